"""Write one generation of the local cloud's state with MiniStack's own persistence functions.

`ministack.core.persistence.save_all` writes one `<service>.json` per service into `persistence.STATE_DIR`; here
STATE_DIR is pointed at a fresh `.partial` generation directory for the duration of the call, and the result is
checked (MiniStack logs a failed write and carries on) before `GenerationStore.commit` makes it current.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.tools.local.generations import GenerationStore, Manifest, SaveError, now_iso

Services = dict[str, Callable[[], Any]]  # persistence key -> MiniStack's get_state function
Progress = Callable[[str, int, int], None]  # service, index (from 1), count


class _Errors(logging.Handler):
    """Collects the errors MiniStack's persistence logs instead of raising (a full disk, a read-only dir)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _state_dir(path: Path) -> Any:
    """MiniStack's save target (and Lambda's code-blob directory, which its get_state writes) set to ``path``."""
    from ministack.core import persistence

    lambda_svc: Any = sys.modules.get("ministack.services.lambda_svc")
    saved = persistence.STATE_DIR, getattr(lambda_svc, "CODE_BLOB_DIR", None)
    persistence.STATE_DIR = str(path)
    if lambda_svc is not None:
        lambda_svc.CODE_BLOB_DIR = str(path / "lambda-blobs")
    try:
        yield
    finally:
        persistence.STATE_DIR = saved[0]
        if lambda_svc is not None:
            lambda_svc.CODE_BLOB_DIR = saved[1]


def write_generation(
    store: GenerationStore,
    services: Services,
    *,
    ministack_version: str,
    changes: int = 0,
    progress: Progress | None = None,
) -> Manifest:
    """Save every service into a new generation and make it current; `SaveError` (nothing changed) on failure.

    Files of services that report no state (a module that failed to import) carry over from the current
    generation, as MiniStack leaves such files alone. A service whose state cannot be read or written fails the
    whole generation: a generation is all services at one moment, or nothing.
    """
    from ministack.core import persistence

    started, cpu = time.monotonic(), time.process_time()
    base = store.current()
    try:
        partial = store.begin()
    except OSError as exc:
        raise SaveError(f"cannot write in {store.root}: {exc.strerror or exc}") from exc
    written: list[str] = []
    unreported: list[str] = []
    failed: list[str] = []

    def tracked(name: str, get_state: Callable[[], Any], index: int) -> Callable[[], Any]:
        def call() -> Any:
            if progress:
                progress(name, index, len(services))
            try:
                state = get_state()
            except Exception:
                failed.append(name)
                raise  # save_all logs it and skips the service
            (unreported if state is None else written).append(name)
            return state

        return call

    errors = _Errors()
    logger = logging.getLogger("persistence")
    logger.addHandler(errors)
    try:
        store.clone_into(partial, base, skip={f"{name}.json" for name in services})
        with _state_dir(partial):
            persistence.save_all(
                {name: tracked(name, fn, i) for i, (name, fn) in enumerate(sorted(services.items()), start=1)}
            )
        missing = [name for name in written if not (partial / f"{name}.json").is_file()]
        if failed or missing:
            detail = "; ".join(errors.messages[-3:]) or "see the local cloud's log"
            raise SaveError(f"could not save {', '.join(failed + missing)}: {detail}")
        for name in unreported:  # what MiniStack leaves alone carries over from the generation before
            previous = base.path / f"{name}.json" if base else None
            if previous and previous.is_file() and not (partial / previous.name).exists():
                (partial / previous.name).hardlink_to(previous)
        number = int(partial.name.removeprefix("gen-").removesuffix(".partial"))
        manifest = Manifest(number, now_iso(), ministack_version, changes=changes)
        manifest.seconds = round(time.monotonic() - started, 3)
        manifest.cpu_seconds = round(time.process_time() - cpu, 3)
        store.commit(partial, manifest)
        return manifest
    except OSError as exc:
        raise SaveError(f"could not save the local cloud's state in {store.root}: {exc.strerror or exc}") from exc
    finally:
        logger.removeHandler(errors)
        shutil.rmtree(partial, ignore_errors=True)  # gone after a commit (renamed); a failed save leaves nothing
