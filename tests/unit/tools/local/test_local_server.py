"""`LocalCloud` without a server: a state dir it cannot write, and what a stop reports from the server's status."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.tools.local import LocalCloud, LocalCloudError
from pipeline.tools.local.status import write_json


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot write: permission bits, or (as root, who ignores them) a read-only tmpfs."""
    folder = tmp_path / "state"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)], check=False).returncode:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_state_dir_without_write_permission_is_refused_before_anything_starts(read_only_dir: Path) -> None:
    cloud = LocalCloud(read_only_dir, 4599)
    with pytest.raises(LocalCloudError) as refused:
        cloud.start()
    message = str(refused.value)
    assert message.startswith(f"cannot write in {read_only_dir} (")
    assert "set PIPELINE_STATE_DIR to a writable folder" in message
    assert cloud.pid() is None


def test_stopping_a_cloud_that_does_not_run_says_so(tmp_path: Path) -> None:
    report = LocalCloud(tmp_path, 4599).stop()
    assert not report and report.message == "local cloud was not running"


@pytest.mark.parametrize(
    ("final", "said"),
    [
        (
            {"saved": True, "generation": 7, "bytes": 512_000_000, "seconds": 21.4},
            "state saved as generation 7 (512 MB) in 21.4s",
        ),
        ({"saved": False, "reason": "nothing changed"}, "nothing changed since generation 6"),
        (
            {"saved": False, "error": "could not save dynamodb: [Errno 28] No space left on device"},
            "could NOT save its state",
        ),
    ],
)
def test_a_stop_reports_how_the_final_save_went(tmp_path: Path, final: dict[str, object], said: str) -> None:
    status = {"phase": "stopped", "final": final, "checkpoint": {"generation": 6, "finished": time.time() - 30}}
    write_json(tmp_path / "status.json", status | {"updated": time.time()})
    report = LocalCloud(tmp_path, 4599)._stopped(LocalCloud(tmp_path, 4599).status(), time.time() - 5)
    assert said in report.message
    if "error" in final:
        assert report.message.endswith("No space left on device; it will load generation 6 (30 s ago)")
        assert not report.saved


def test_a_server_that_died_without_saving_is_reported_as_such(tmp_path: Path) -> None:
    write_json(tmp_path / "status.json", {"phase": "serving", "checkpoint": {"generation": 3}, "updated": time.time()})
    cloud = LocalCloud(tmp_path, 4599)
    report = cloud._stopped(cloud.status(), time.time() - 5)
    assert report.message.startswith("local cloud stopped WITHOUT saving") and not report.saved


def test_a_pid_counts_only_while_the_state_dir_lock_is_held(tmp_path: Path) -> None:
    """After a kill -9 the pid file stays behind, and its pid may be reused: the lock decides."""
    import sys

    from pipeline.tools.local.lock import StateLock

    lookalike = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "pipeline.tools.local.launcher"])
    try:
        cloud = LocalCloud(tmp_path, 4599)
        cloud.pid_file.write_text(str(lookalike.pid))
        assert cloud.pid() is None  # a process that looks like a server, but holds no lock
        lock = StateLock(tmp_path / "lock")
        assert lock.acquire()
        assert cloud.pid() == lookalike.pid
        lock.release()
    finally:
        lookalike.kill()
        lookalike.wait()
    assert cloud.pid() is None
