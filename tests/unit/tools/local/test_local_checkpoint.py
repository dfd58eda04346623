"""Checkpoints of the running local cloud: when they happen, and what the fork()ed writer sees and holds."""

from __future__ import annotations

import json
import os
import select
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.tools.local.checkpoint import Checkpointer, CheckpointSettings
from pipeline.tools.local.generations import GenerationStore
from pipeline.tools.local.lock import StateLock
from pipeline.tools.local.status import StatusFile, read_json

VERSION = "1.5.33"


@pytest.fixture
def persistence(monkeypatch: pytest.MonkeyPatch) -> Any:
    from ministack.core import persistence as module

    monkeypatch.setattr(module, "PERSIST_STATE", True)
    return module


def _checkpointer(tmp_path: Path, services: Any = dict, keep: set[int] | None = None, **settings: Any) -> Checkpointer:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    return Checkpointer(
        store,
        StatusFile(tmp_path / "status.json"),
        tmp_path / "saving.json",
        services,
        ministack_version=VERSION,
        keep_fds=keep or set(),
        settings=CheckpointSettings(**settings),
    )


def _at(checkpointer: Checkpointer, **fields: float) -> None:
    for name, value in fields.items():
        setattr(checkpointer, f"_{name}", value)


def test_no_checkpoint_without_changes_or_while_changes_keep_coming(tmp_path: Path) -> None:
    c = _checkpointer(tmp_path)
    now = time.monotonic()
    _at(c, last_start=now, last_end=now)
    assert c.due(now + 1000) is None  # nothing changed
    c.changed()
    assert c.due(time.monotonic() + 0.5) is None  # changes still coming
    assert c.due(time.monotonic() + 10.1) == "changes, then quiet"


def test_a_completed_job_is_checkpointed_after_a_moment_of_quiet(tmp_path: Path) -> None:
    c = _checkpointer(tmp_path)
    c.published("arn:aws:sns:us-east-1:000000000000:pipeline-local-job-events", "job-completed")
    now = time.monotonic()
    assert c.due(now + 0.2) is None
    assert c.due(now + 1.1) == "a job completed"
    c.published("arn:aws:sns:us-east-1:000000000000:pipeline-local-pages", "")  # other publishes only count
    assert c.due(time.monotonic() + 1.1) == "a job completed"


def test_continuous_changes_are_checkpointed_at_the_interval(tmp_path: Path) -> None:
    c = _checkpointer(tmp_path, interval_s=60)
    start = time.monotonic()
    _at(c, last_start=start, last_end=start)
    c.changed()
    _at(c, last_change=start + 59.9)
    assert c.due(start + 59.9) is None
    _at(c, last_change=start + 60.5)
    assert c.due(start + 60.5) == "interval"


def test_checkpoints_take_at_most_half_of_the_time_after_a_job_and_a_quarter_otherwise(tmp_path: Path) -> None:
    c = _checkpointer(tmp_path, interval_s=10)
    end = time.monotonic()
    _at(c, last_start=end - 20, last_end=end, last_seconds=20.0)  # the last one took 20 s
    c.changed()
    _at(c, last_change=end - 100)
    assert c.due(end + 59) is None
    assert c.due(end + 61) == "changes, then quiet"
    c.published("arn:aws:sns:us-east-1:000000000000:pipeline-local-job-events", "job-completed")
    _at(c, last_change=end - 100, completed_at=end - 100)
    assert c.due(end + 19) is None
    assert c.due(end + 21) == "a job completed"


def test_continuous_changes_after_a_long_checkpoint_wait_four_times_its_duration(tmp_path: Path) -> None:
    c = _checkpointer(tmp_path, interval_s=10)
    end = time.monotonic()
    _at(c, last_start=end - 20, last_end=end, last_seconds=20.0)
    c.changed()
    _at(c, last_change=end + 59)
    assert c.due(end + 59) is None
    _at(c, last_change=end + 61)
    assert c.due(end + 61) == "interval"  # 81 s after it started: 4 x 20 s


def test_checkpoints_can_be_switched_off(tmp_path: Path) -> None:
    c = _checkpointer(tmp_path, enabled=False)
    c.changed()
    assert c.due(time.monotonic() + 1000) is None


def _wait_reaped(c: Checkpointer, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while c._child is not None:
        assert time.monotonic() < deadline, "the checkpoint writer did not finish"
        time.sleep(0.05)


def test_the_writer_saves_the_state_as_it_was_at_the_fork(tmp_path: Path, persistence: Any) -> None:
    """Copy-on-write: changes the server makes after the fork are not in that generation (they are pending)."""
    table = {"items": {f"k{i}": {"S": str(i)} for i in range(1000)}}

    def get_state() -> Any:
        time.sleep(0.3)  # the server changes the table meanwhile
        return {"tables": table}

    c = _checkpointer(tmp_path, services=lambda: {"dynamodb": get_state})
    c.changed()
    child = c._fork()
    assert child is not None
    c.changed()
    table["items"]["after-the-fork"] = {"S": "x"}
    os.waitpid(child.pid, 0)
    c._finished(child, 0)

    current = c.store.current()
    assert current is not None and current.number == 1
    saved = persistence.STATE_DIR
    persistence.STATE_DIR = str(current.path)
    try:
        loaded = persistence.load_state("dynamodb")
    finally:
        persistence.STATE_DIR = saved
    assert loaded["tables"]["items"] == {f"k{i}": {"S": str(i)} for i in range(1000)}
    assert c.pending == 1  # the change after the fork waits for the next checkpoint
    assert read_json(tmp_path / "status.json")["checkpoint"]["generation"] == 1


def test_the_writer_writes_the_same_bytes_as_ministacks_own_save(tmp_path: Path, persistence: Any) -> None:
    """The child skips deepcopy and uses the C encoder: the file must be byte for byte MiniStack's own."""
    from ministack.core.responses import AccountRegionScopedDict

    scoped = AccountRegionScopedDict()
    scoped._data[("000000000000", "us-east-1", "orders")] = {"items": {"a": {"N": "1.5"}, "é": {"B": b"\x00\xff"}}}
    state = {"tables": scoped, "tags": {"t": ["x", 1, None, True, 2.5]}}
    c = _checkpointer(tmp_path, services=lambda: {"dynamodb": lambda: state})
    c.changed()
    child = c._fork()
    assert child is not None
    os.waitpid(child.pid, 0)
    c._finished(child, 0)

    reference = tmp_path / "reference"
    persistence.STATE_DIR, saved = str(reference), persistence.STATE_DIR
    try:
        persistence.save_state("dynamodb", state)  # MiniStack's path: json.dump, in this process
    finally:
        persistence.STATE_DIR = saved
    assert (c.store.current_link / "dynamodb.json").read_bytes() == (reference / "dynamodb.json").read_bytes()


def test_the_writer_holds_the_state_lock_and_nothing_else(tmp_path: Path, persistence: Any) -> None:
    """The child closes inherited descriptors (a pipe here stands for the listening socket and the Lambda workers'
    pipes), but keeps the state-dir lock: no second server can start on the state while it writes."""
    lock = StateLock(tmp_path / "lock")
    assert lock.acquire()
    assert lock.fd is not None
    read_end, write_end = os.pipe()

    c = _checkpointer(tmp_path, services=lambda: {"sqs": lambda: time.sleep(1.5) or {"q": 1}}, keep={lock.fd})
    c.changed()
    child = c._fork()
    assert child is not None
    os.close(write_end)
    lock.release()
    ready, _, _ = select.select([read_end], [], [], 1.0)
    assert ready and os.read(read_end, 1) == b""  # EOF at once: the child did not keep the pipe
    assert not StateLock(tmp_path / "lock").acquire()  # the child still holds the lock
    os.waitpid(child.pid, 0)
    c._finished(child, 0)
    assert StateLock(tmp_path / "lock").acquire()
    os.close(read_end)


def test_a_failed_checkpoint_keeps_the_generation_and_backs_off(tmp_path: Path, persistence: Any) -> None:
    def broken() -> Any:
        raise OSError(28, "No space left on device")

    c = _checkpointer(tmp_path, services=lambda: {"sqs": broken})
    c.changed()
    child = c._fork()
    assert child is not None
    _, status = os.waitpid(child.pid, 0)
    c._finished(child, os.waitstatus_to_exitcode(status))
    assert os.readlink(c.store.current_link) == "gen-000000"
    assert "could not save sqs" in read_json(tmp_path / "status.json")["last_error"]
    assert c.pending == 1
    assert c.due(time.monotonic() + 10) is None  # backing off (60 s) rather than failing in a loop


def test_the_final_save_is_skipped_when_nothing_changed(tmp_path: Path, persistence: Any) -> None:
    c = _checkpointer(tmp_path, services=lambda: {"sqs": lambda: {"q": 1}})
    c.final_save({"sqs": lambda: {"q": 1}})
    status = read_json(tmp_path / "status.json")
    assert status["phase"] == "stopped" and status["final"] == {"saved": False, "reason": "nothing changed"}
    assert os.readlink(c.store.current_link) == "gen-000000"


def test_the_final_save_writes_what_changed(tmp_path: Path, persistence: Any) -> None:
    c = _checkpointer(tmp_path, services=lambda: {"sqs": lambda: {"q": 2}})
    c.changed()
    c.final_save({"sqs": lambda: {"q": 2}})
    final = read_json(tmp_path / "status.json")["final"]
    assert final["saved"] and final["generation"] == 1
    text = json.loads((c.store.current_link / "sqs.json").read_text())
    assert text["payload"] == {"q": 2}
