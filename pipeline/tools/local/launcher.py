"""`python -m pipeline.tools.local.launcher`: MiniStack on one state directory, with our adaptations installed.

The launcher takes the state directory's lock (a second server on the same state exits at once), picks the
generation of saved state to load (setting damaged ones aside, refusing state a newer MiniStack wrote), points
MiniStack's STATE_DIR at it, installs `pipeline.tools.local.adapt.ADAPTATIONS` and runs `ministack.app.main()`.
MiniStack stays a dependency: nothing of it is copied here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from pipeline.tools.local.generations import GenerationStore, Selection, StateError
from pipeline.tools.local.lock import StateLock
from pipeline.tools.local.status import SAVING, STATUS, Phase, StatusFile

EXIT_RUNNING = 75  # another server holds the state directory (EX_TEMPFAIL)
EXIT_REFUSED = 78  # the saved state cannot be loaded as it is; nothing was changed (EX_CONFIG)
LOCK_WAIT_S = 5.0  # a checkpoint writer of a server killed a moment ago may still hold the lock


def state_root(state_dir: Path) -> Path:
    """Where the generations of MiniStack's own state live."""
    return state_dir / "ministack"


@dataclass
class LaunchContext:
    """What the adaptations need to know about this launch."""

    state_dir: Path
    store: GenerationStore
    selection: Selection
    status: StatusFile
    lock_fd: int
    ministack_version: str
    checkpointer: Any = field(default=None)

    @property
    def saving(self) -> Path:
        return self.state_dir / SAVING


def _format_support() -> Any:
    from ministack.core import persistence

    versions = getattr(persistence, "SERVICE_STATE_FORMAT_VERSIONS", {})
    default = getattr(persistence, "STATE_FORMAT_VERSION", 1)
    return lambda service: int(versions.get(service, default))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.tools.local.launcher", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--pid-file", type=Path, required=True)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)

    lock = StateLock(state_dir / "lock")
    if not lock.acquire(wait=LOCK_WAIT_S):
        print(f"the local cloud on {state_dir} is already running (pid {lock.holder()})", file=sys.stderr)
        return EXIT_RUNNING
    status = StatusFile(state_dir / STATUS)
    status.reset(phase=Phase.PREPARING, pid=os.getpid(), started=time.time())
    args.pid_file.write_text(str(os.getpid()))
    (state_dir / SAVING).unlink(missing_ok=True)

    store = GenerationStore(state_root(state_dir))
    os.environ["PERSIST_STATE"] = "1"
    os.environ["STATE_DIR"] = str(store.current_link)  # read by MiniStack at import: always the `current` link
    ministack_version = version("ministack")
    try:
        selection = store.select(ministack_version, _format_support())
    except (StateError, OSError) as exc:
        message = str(exc) if isinstance(exc, StateError) else f"cannot prepare {store.root}: {exc}"
        status.update(phase=Phase.REFUSED, error=message)
        print(f"refusing to start: {message}", file=sys.stderr)
        return EXIT_REFUSED

    import ministack.app as app

    from pipeline.tools.local.adapt import ADAPTATIONS

    assert lock.fd is not None
    context = LaunchContext(state_dir, store, selection, status, lock.fd, ministack_version)
    for adaptation in ADAPTATIONS:
        adaptation.install(app, context)
    sys.argv = ["ministack"]
    app.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
