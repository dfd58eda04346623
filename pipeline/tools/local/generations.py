"""Generations of the local cloud's saved state: each save is a whole new directory, made current by one rename.

The root (``<state dir>/ministack``) holds::

    current -> gen-000012     symlink: the generation MiniStack loads (its STATE_DIR is <root>/current)
    gen-000011/               the one before: loaded instead when the current one is damaged
    gen-000012/               manifest.json (size and sha256 of every file), <service>.json, lambda-blobs/
    gen-000013.partial/       being written: never loaded, removed at the next start

A generation is complete once its manifest is written (after every file in it has been fsync'ed) and it has
been renamed from ``.partial``; ``current`` is only ever replaced, by one atomic rename, with a link to a complete
generation. So an interrupted save (a kill, a full disk, a read-only directory) never touches what was saved
before: the previous generation stays current and loadable. This module knows nothing of MiniStack.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipeline.runtime.errors import PipelineError

MANIFEST = "manifest.json"
CURRENT = "current"
PINNED = "pinned"  # a generation holding this file is never pruned (a service in it could not be loaded)
KEEP = 2  # complete generations kept: the current one and the one before
_GENERATION = re.compile(r"^gen-(\d{6})$")
_FORMAT = re.compile(rb'^\{"__ministack_format__":\s*(\d+)')

FormatSupport = Callable[[str], int]  # service name -> newest state format this MiniStack reads


class StateError(PipelineError):
    """The saved state cannot be loaded as it is; the message says why and what to do."""


class SaveError(PipelineError):
    """A generation could not be written; the one before it stays current."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class FileRecord:
    """One file of a generation as it was written."""

    size: int
    sha256: str


@dataclass
class Manifest:
    """What a generation holds and who wrote it; written last, so its presence means the generation is whole."""

    generation: int
    created: str
    ministack: str
    files: dict[str, FileRecord] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the save (serialising and writing), as the machine's load allowed
    cpu_seconds: float = 0.0  # CPU time of the same: what the save costs, whatever the load
    changes: int = 0
    legacy: bool = False  # adopted from a state dir written before generations: completeness not known

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        files = {name: FileRecord(**record) for name, record in data.pop("files", {}).items()}
        return cls(files=files, **data)

    @property
    def size(self) -> int:
        return sum(record.size for record in self.files.values())


@dataclass(frozen=True)
class Generation:
    """One complete generation directory."""

    number: int
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def manifest(self) -> Manifest:
        try:
            return Manifest.from_json((self.path / MANIFEST).read_text())
        except (OSError, ValueError, TypeError) as exc:
            raise StateError(f"{self.name} has no readable manifest ({exc})") from exc


@dataclass
class Selection:
    """The generation chosen for loading, and what the user should be told about the choice."""

    generation: Generation
    manifest: Manifest
    notes: list[str] = field(default_factory=list)
    lost: bool = False  # a newer save could not be used: changes after this generation are gone


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _files(top: Path) -> Iterator[Path]:
    for directory, _, names in os.walk(top):
        for name in names:
            yield Path(directory) / name


def record_files(top: Path) -> dict[str, FileRecord]:
    """Size and sha256 of every file under ``top`` (the manifest excluded), by relative path."""
    return {
        str(path.relative_to(top)): FileRecord(path.stat().st_size, _sha256(path))
        for path in sorted(_files(top))
        if path.name != MANIFEST
    }


def written_format(path: Path) -> int | None:
    """The `__ministack_format__` a service file declares in its first bytes (None: a legacy, unversioned file)."""
    with path.open("rb") as handle:
        match = _FORMAT.match(handle.read(64))
    return int(match.group(1)) if match else None


def _when(manifest: Manifest) -> str:
    return manifest.created.replace("T", " ").rstrip("Z") + " UTC"


class GenerationStore:
    """The generations under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def current_link(self) -> Path:
        return self.root / CURRENT

    # ------------------------------------------------------------------ reading
    def generations(self) -> list[Generation]:
        """Complete generations, oldest first."""
        if not self.root.is_dir():
            return []
        found = [
            Generation(int(m.group(1)), entry)
            for entry in self.root.iterdir()
            if (m := _GENERATION.match(entry.name)) and entry.is_dir() and not entry.is_symlink()
        ]
        return sorted(found, key=lambda g: g.number)

    def current(self) -> Generation | None:
        """The generation `current` points at, if any."""
        try:
            target = os.readlink(self.current_link)
        except OSError:
            return None
        match = _GENERATION.match(Path(target).name)
        path = self.root / Path(target).name
        return Generation(int(match.group(1)), path) if match and path.is_dir() else None

    def verify(self, generation: Generation, supported: FormatSupport | None = None) -> list[str]:
        """What is wrong with a generation: missing, truncated or altered files, formats too new to read."""
        try:
            manifest = generation.manifest()
        except StateError as exc:
            return [str(exc)]
        problems = []
        for name, record in sorted(manifest.files.items()):
            path = generation.path / name
            try:
                size = path.stat().st_size
            except OSError:
                problems.append(f"{name} is missing")
                continue
            if size != record.size:
                problems.append(f"{name} is {size:,} bytes, {record.size:,} were saved (truncated or overwritten)")
            elif _sha256(path) != record.sha256:
                problems.append(f"{name} does not match its checksum (corrupted)")
        problems.extend(self.too_new(generation, manifest, supported))
        return problems

    def too_new(self, generation: Generation, manifest: Manifest, supported: FormatSupport | None) -> list[str]:
        """Service files in a state format newer than this MiniStack reads (written by a newer MiniStack)."""
        if supported is None:
            return []
        newer = []
        for name in sorted(manifest.files):
            if "/" in name or not name.endswith(".json"):
                continue
            service = name.removesuffix(".json")
            with contextlib.suppress(OSError):
                written = written_format(generation.path / name)
                if written is not None and written > supported(service):
                    newer.append(f"{service} (format {written}, this MiniStack reads {supported(service)})")
        return [f"written by MiniStack {manifest.ministack}, newer than this one: {', '.join(newer)}"] if newer else []

    # ------------------------------------------------------------------ choosing what to load
    def select(self, ministack_version: str, supported: FormatSupport | None = None) -> Selection:
        """Pick the newest loadable generation and make it current; set damaged ones aside; never delete data.

        A state dir from before generations (service files directly in the root) is adopted as generation 0;
        an empty one gets an empty generation 0. Raises `StateError` when nothing can be loaded safely.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self.discard_partials()
        notes: list[str] = []
        if not self.generations():
            adopted = self._adopt_legacy(ministack_version)
            if adopted:
                notes.append(
                    "adopted the saved state of an earlier version of the local cloud (saved before checkpoints "
                    "were made whole, so it may be incomplete)"
                )
            else:
                self._create_empty(ministack_version)
        pointed = self.current()
        lost = False
        newer_damaged: list[str] = []
        for generation in reversed(self.generations()):
            try:
                manifest = generation.manifest()
            except StateError as exc:
                newer_damaged.append(f"{generation.name}: {exc}")
                self._set_aside(generation)
                continue
            if too_new := self.too_new(generation, manifest, supported):
                raise StateError(
                    f"the state in {self.root.parent} was {too_new[0]}; install that MiniStack version again, "
                    "or start with another PIPELINE_STATE_DIR; nothing was changed"
                )
            problems = self.verify(generation)
            if problems:
                newer_damaged.append(f"{generation.name}: {'; '.join(problems)}")
                self._set_aside(generation)
                continue
            if newer_damaged:
                lost = True
                notes.append(
                    f"the newest saved state is damaged ({' | '.join(newer_damaged)}); it was moved aside as "
                    f"broken-*; loaded {generation.name} of {_when(manifest)} instead, so changes after that time "
                    "are lost"
                )
            elif pointed and pointed.number < generation.number:
                notes.append(f"{generation.name} was complete but not yet current (a save was cut short); loaded it")
            if manifest.ministack != ministack_version:
                notes.append(f"state written by MiniStack {manifest.ministack}, loaded by {ministack_version}")
            self._point(generation)
            return Selection(generation, manifest, notes, lost)
        raise StateError(
            f"no saved state in {self.root} can be loaded ({' | '.join(newer_damaged)}); the damaged generations "
            "were moved aside as broken-*: move the state dir away to start empty"
        )

    def _create_empty(self, ministack_version: str) -> Generation:
        partial = self.begin(0)
        return self.commit(partial, Manifest(0, now_iso(), ministack_version))

    def _adopt_legacy(self, ministack_version: str) -> Generation | None:
        """Move service files written straight into the root (before generations) into generation 0."""
        entries = [e for e in self.root.iterdir() if not e.name.startswith(("gen-", "broken-", CURRENT, "."))]
        if not any(e.suffix == ".json" and e.is_file() for e in entries):
            return None
        partial = self.begin(0)
        for entry in entries:
            if entry.name.endswith(".tmp"):  # half of a file MiniStack was writing when it was killed
                entry.unlink()
                continue
            entry.rename(partial / entry.name)
        return self.commit(partial, Manifest(0, now_iso(), ministack_version, legacy=True))

    def _set_aside(self, generation: Generation) -> None:
        target = self.root / f"broken-{generation.name}"
        if target.exists():
            target = self.root / f"broken-{generation.name}-{int(time.time())}"
        generation.path.rename(target)

    # ------------------------------------------------------------------ writing
    def next_number(self) -> int:
        numbers = [g.number for g in self.generations()]
        numbers += [int(m.group(1)) for e in self.root.glob("broken-gen-*") if (m := re.search(r"gen-(\d{6})", e.name))]
        return max(numbers, default=-1) + 1

    def begin(self, number: int | None = None) -> Path:
        """A fresh `.partial` directory for the next generation."""
        number = self.next_number() if number is None else number
        partial = self.root / f"gen-{number:06d}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        return partial

    def clone_into(self, partial: Path, base: Generation | None, skip: set[str]) -> None:
        """Hard-link every file of ``base`` into ``partial`` (manifest and ``skip`` excepted): files a save does
        not rewrite carry over for free, and a rewrite replaces the link, never the previous generation's file."""
        if base is None:
            return
        for source in _files(base.path):
            relative = source.relative_to(base.path)
            if str(relative) in skip or relative.name in (MANIFEST, PINNED):
                continue
            target = partial / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)

    def commit(self, partial: Path, manifest: Manifest) -> Generation:
        """Make a written `.partial` directory the current generation, durably, then prune old generations."""
        manifest.files = record_files(partial)
        for path in [*_files(partial), *(Path(d) for d, _, _ in os.walk(partial))]:
            _fsync(path)
        (partial / MANIFEST).write_text(manifest.to_json())
        _fsync(partial / MANIFEST)
        final = self.root / partial.name.removesuffix(".partial")
        partial.rename(final)
        _fsync(self.root)
        generation = Generation(manifest.generation, final)
        self._point(generation)
        self.prune()
        return generation

    def _point(self, generation: Generation) -> None:
        if self.current() == generation:
            return
        link = self.root / f".{CURRENT}.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(generation.name, link)
        os.replace(link, self.current_link)
        _fsync(self.root)

    def pin(self, generation: Generation) -> None:
        """Keep ``generation`` whatever later saves do (a service in it could not be loaded)."""
        (generation.path / PINNED).write_text(now_iso())

    def prune(self, keep: int = KEEP) -> None:
        """Remove complete generations beyond the newest ``keep`` (pinned ones and the current one stay)."""
        current = self.current()
        for generation in self.generations()[:-keep]:
            if generation != current and not (generation.path / PINNED).exists():
                shutil.rmtree(generation.path, ignore_errors=True)

    def discard_partials(self) -> None:
        """Remove generations whose writing never finished (and stray links of an interrupted pointer switch)."""
        if not self.root.is_dir():
            return
        for entry in self.root.iterdir():
            if entry.name.endswith(".partial"):
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith(f".{CURRENT}."):
                entry.unlink(missing_ok=True)
