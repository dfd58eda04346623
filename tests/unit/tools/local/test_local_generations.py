"""Saved state of the local cloud: whole generations, the previous one loadable, damaged ones never loaded.

`write_generation` runs MiniStack's own `persistence.save_all`, and its output is read back with MiniStack's own
`persistence.load_state`: the oracle for "the state survived" is the emulator's loader, not our writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.tools.local.generations import (
    MANIFEST,
    GenerationStore,
    Manifest,
    SaveError,
    StateError,
    now_iso,
    written_format,
)
from pipeline.tools.local.snapshot import write_generation

VERSION = "1.5.33"


@pytest.fixture
def persistence(monkeypatch: pytest.MonkeyPatch) -> Any:
    """MiniStack's persistence module with saving switched on (the launcher sets PERSIST_STATE=1)."""
    from ministack.core import persistence as module

    monkeypatch.setattr(module, "PERSIST_STATE", True)
    return module


def _load(persistence: Any, directory: Path, service: str) -> Any:
    """A service's state as MiniStack's own loader reads it from ``directory``."""
    saved = persistence.STATE_DIR
    persistence.STATE_DIR = str(directory)
    try:
        return persistence.load_state(service)
    finally:
        persistence.STATE_DIR = saved


def _services(**states: Any) -> dict[str, Any]:
    return {name: (lambda value=value: value) for name, value in states.items()}


def _generation(store: GenerationStore, persistence: Any, **states: Any) -> Manifest:
    return write_generation(store, _services(**states), ministack_version=VERSION)


def _current_state(store: GenerationStore, persistence: Any, service: str) -> Any:
    current = store.current()
    assert current is not None
    return _load(persistence, current.path, service)


def test_each_save_is_a_new_generation_and_the_one_before_stays(tmp_path: Path, persistence: Any) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)  # a fresh state dir gets an empty generation 0
    _generation(store, persistence, dynamodb={"items": [1, 2]}, sqs={"queues": ["a"]})
    _generation(store, persistence, dynamodb={"items": [1, 2, 3]}, sqs={"queues": ["a"]})
    _generation(store, persistence, dynamodb={"items": [1, 2, 3, 4]}, sqs={"queues": ["a", "b"]})
    assert [g.number for g in store.generations()] == [2, 3]  # the current one and the one before
    assert os.readlink(store.current_link) == "gen-000003"
    assert _current_state(store, persistence, "dynamodb") == {"items": [1, 2, 3, 4]}
    assert _load(persistence, store.generations()[0].path, "dynamodb") == {"items": [1, 2, 3]}
    manifest = store.generations()[-1].manifest()
    assert set(manifest.files) == {"dynamodb.json", "sqs.json"}
    assert written_format(store.current_link / "dynamodb.json") == persistence.STATE_FORMAT_VERSION


def test_a_service_that_reports_no_state_keeps_its_last_saved_file(tmp_path: Path, persistence: Any) -> None:
    """MiniStack's save_all leaves a file alone when its module reports None (it failed to import)."""
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, lambda_={"functions": ["f"]}, sns={"topics": ["t"]})
    write_generation(store, {"lambda_": lambda: None, "sns": lambda: {"topics": ["t", "u"]}}, ministack_version=VERSION)
    assert _current_state(store, persistence, "lambda_") == {"functions": ["f"]}
    assert _current_state(store, persistence, "sns") == {"topics": ["t", "u"]}


def test_a_truncated_service_file_is_set_aside_and_the_previous_generation_loads(
    tmp_path: Path, persistence: Any
) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, dynamodb={"items": list(range(1000))})
    _generation(store, persistence, dynamodb={"items": list(range(2000))})
    damaged = store.current_link / "dynamodb.json"
    data = damaged.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])

    selection = store.select(VERSION)

    assert selection.generation.number == 1 and selection.lost
    assert "dynamodb.json is" in selection.notes[0] and "truncated" in selection.notes[0]
    assert "changes after that time are lost" in selection.notes[0]
    assert _current_state(store, persistence, "dynamodb") == {"items": list(range(1000))}
    assert (store.root / "broken-gen-000002" / "dynamodb.json").exists()  # kept for inspection, never loaded
    _generation(store, persistence, dynamodb={"items": [7]})  # saving goes on, numbered past the broken one
    assert os.readlink(store.current_link) == "gen-000003"


def test_a_corrupted_file_of_the_same_size_is_caught_by_its_checksum(tmp_path: Path, persistence: Any) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, sqs={"queues": ["first"]})
    _generation(store, persistence, sqs={"queues": ["second"]})
    path = store.current_link / "sqs.json"
    path.write_bytes(path.read_bytes().replace(b"second", b"sec0nd"))

    selection = store.select(VERSION)

    assert selection.generation.number == 1
    assert "does not match its checksum" in selection.notes[0]
    assert _current_state(store, persistence, "sqs") == {"queues": ["first"]}


def test_a_generation_without_its_manifest_was_never_finished_and_is_not_loaded(
    tmp_path: Path, persistence: Any
) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, sqs={"queues": ["kept"]})
    _generation(store, persistence, sqs={"queues": ["unfinished"]})
    (store.current_link / MANIFEST).unlink()
    assert store.select(VERSION).generation.number == 1
    assert _current_state(store, persistence, "sqs") == {"queues": ["kept"]}


def test_state_written_by_a_newer_ministack_is_refused_and_left_as_it_is(tmp_path: Path, persistence: Any) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    partial = store.begin()
    (partial / "dynamodb.json").write_text(json.dumps({"__ministack_format__": 9, "payload": {}}))
    store.commit(partial, Manifest(1, now_iso(), "1.9.0"))
    before = sorted((p.name, p.stat().st_mtime_ns) for p in store.root.rglob("*"))

    with pytest.raises(StateError) as refused:
        store.select(VERSION, supported=lambda service: 2)

    assert "written by MiniStack 1.9.0" in str(refused.value)
    assert "dynamodb (format 9, this MiniStack reads 2)" in str(refused.value)
    assert "nothing was changed" in str(refused.value)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in store.root.rglob("*")) == before


def test_an_older_ministack_version_is_loaded_and_said(tmp_path: Path, persistence: Any) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select("1.5.30")
    _generation(store, persistence, sqs={"queues": ["a"]})
    store.generations()[-1].path.joinpath(MANIFEST).write_text(
        store.generations()[-1].path.joinpath(MANIFEST).read_text().replace(VERSION, "1.5.30")
    )
    selection = store.select(VERSION, supported=lambda service: 2)
    assert "state written by MiniStack 1.5.30, loaded by 1.5.33" in selection.notes


def test_a_state_dir_from_before_generations_is_adopted_whole(tmp_path: Path, persistence: Any) -> None:
    """The layout the previous version wrote: one file per service straight in the root (a save may have been cut
    short: its half-written `.tmp` file is not adopted)."""
    root = tmp_path / "ministack"
    root.mkdir()
    persistence.STATE_DIR, saved = str(root), persistence.STATE_DIR
    try:
        persistence.save_state("cloudformation", {"stacks": ["pipeline-local"]})
        persistence.save_state("acm", {})
    finally:
        persistence.STATE_DIR = saved
    (root / "dynamodb.json.tmp").write_text('{"__ministack_format__": 2, "payload": {"tab')
    (root / "lambda-blobs").mkdir()
    (root / "lambda-blobs" / "abc.zip").write_bytes(b"PK")

    selection = GenerationStore(root).select(VERSION)

    assert selection.generation.number == 0 and selection.manifest.legacy
    assert "earlier version of the local cloud" in selection.notes[0]
    assert _load(persistence, root / "current", "cloudformation") == {"stacks": ["pipeline-local"]}
    assert (root / "current" / "lambda-blobs" / "abc.zip").read_bytes() == b"PK"
    assert not list(root.rglob("*.tmp"))


def test_partial_generations_are_discarded_and_a_finished_one_not_yet_current_is_used(
    tmp_path: Path, persistence: Any
) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, sqs={"queues": ["one"]})
    _generation(store, persistence, sqs={"queues": ["two"]})
    os.replace(store.root / "current", store.root / "x")  # as if killed between the rename and the switch
    os.symlink("gen-000001", store.root / "current")
    (store.root / "x").unlink()
    (store.root / "gen-000003.partial").mkdir()
    (store.root / "gen-000003.partial" / "sqs.json").write_text("{")

    selection = store.select(VERSION)

    assert selection.generation.number == 2 and "was complete but not yet current" in selection.notes[0]
    assert not (store.root / "gen-000003.partial").exists()


def test_a_pinned_generation_is_never_pruned(tmp_path: Path, persistence: Any) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, sqs={"n": 1})
    first = store.generations()[-1]
    store.pin(first)
    for n in range(2, 5):
        _generation(store, persistence, sqs={"n": n})
    assert [g.number for g in store.generations()] == [1, 3, 4]


def test_a_service_whose_state_cannot_be_read_fails_the_whole_generation(tmp_path: Path, persistence: Any) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, dynamodb={"items": [1]}, sqs={"queues": ["a"]})

    def broken() -> Any:
        raise RuntimeError("dictionary changed size during iteration")

    with pytest.raises(SaveError, match="could not save sqs"):
        write_generation(store, {"dynamodb": lambda: {"items": [1, 2]}, "sqs": broken}, ministack_version=VERSION)
    assert os.readlink(store.current_link) == "gen-000001"
    assert _current_state(store, persistence, "dynamodb") == {"items": [1]}
    assert not list(store.root.glob("*.partial"))


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail (EFBIG), as on a disk that fills up in the middle of a file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_a_write_that_fails_mid_file_leaves_the_saved_state_untouched(tmp_path: Path, persistence: Any) -> None:
    store = GenerationStore(tmp_path / "ministack")
    store.select(VERSION)
    _generation(store, persistence, dynamodb={"items": ["x" * 10] * 100}, sqs={"queues": ["a"]})
    before = {p.name: p.read_bytes() for p in store.current_link.iterdir()}

    with _file_size_limit(64 * 1024), pytest.raises(SaveError, match=r"could not save dynamodb: .*File too large"):
        _generation(store, persistence, dynamodb={"items": ["y" * 100] * 10_000}, sqs={"queues": ["b"]})

    assert {p.name: p.read_bytes() for p in store.current_link.iterdir()} == before
    assert not list(store.root.glob("*.partial")) and not list(store.root.rglob("*.tmp"))
    assert GenerationStore(store.root).select(VERSION).generation.number == 1


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (root only): a disk that really fills up."""
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=False).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_during_a_save_keeps_the_previous_generation(small_disk: Path, persistence: Any) -> None:
    store = GenerationStore(small_disk / "ministack")
    store.select(VERSION)
    _generation(store, persistence, dynamodb={"items": ["x" * 100] * 1000})

    with pytest.raises(SaveError, match="No space left on device"):
        _generation(store, persistence, dynamodb={"items": ["y" * 100] * 20_000})

    assert _current_state(store, persistence, "dynamodb") == {"items": ["x" * 100] * 1000}
    assert not list(store.root.glob("*.partial"))  # the space of the failed save is given back
    _generation(store, persistence, dynamodb={"items": ["z"]})  # and the next save succeeds
    assert _current_state(store, persistence, "dynamodb") == {"items": ["z"]}


def test_a_directory_made_read_only_mid_save_keeps_the_previous_generation(small_disk: Path, persistence: Any) -> None:
    store = GenerationStore(small_disk / "ministack")
    store.select(VERSION)
    _generation(store, persistence, acm={"n": 1}, sqs={"queues": ["kept"]})

    def turn_read_only() -> Any:  # acm is saved first: the disk becomes read-only before sqs
        subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
        return {"n": 2}

    try:
        with pytest.raises(SaveError, match="Read-only file system"):
            write_generation(
                store, {"acm": turn_read_only, "sqs": lambda: {"queues": ["lost"]}}, ministack_version=VERSION
            )
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert _current_state(store, persistence, "sqs") == {"queues": ["kept"]}
    assert _current_state(store, persistence, "acm") == {"n": 1}


def test_a_read_only_state_dir_gives_a_clear_error(small_disk: Path, persistence: Any) -> None:
    store = GenerationStore(small_disk / "ministack")
    store.select(VERSION)
    _generation(store, persistence, sqs={"queues": ["kept"]})
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(SaveError, match=r"cannot write in .*ministack: Read-only file system"):
            _generation(store, persistence, sqs={"queues": ["new"]})
        assert GenerationStore(store.root).select(VERSION).generation.number == 1  # still loads, read-only
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
