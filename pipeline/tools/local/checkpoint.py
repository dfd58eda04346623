"""Checkpoints of the running local cloud: a fork()ed child writes a whole generation while the server serves on.

At fork time the child gets a copy-on-write image of the server's memory, taken on the event loop's thread
between two requests (MiniStack runs its DynamoDB, SQS and SNS handlers there), so no write is half applied in
it and no dictionary changes while it is serialised. The child keeps only the state-dir lock of all inherited
descriptors (the listening socket and the Lambda workers' pipes are closed), dies with the server
(PR_SET_PDEATHSIG), and, being a throw-away copy, skips the defensive `copy.deepcopy` in MiniStack's
`get_state` functions and serialises with the C JSON encoder: the same bytes, several times faster, and no
second copy of every item. See docs/adr/0005-local-cloud-checkpoints.md.

When: after a job completes (its `job-completed` event) once the cloud is quiet for a moment, whenever changes
have been followed by `idle_s` without any, and every `interval_s` while changes keep coming. A checkpoint that
took D seconds is followed by at least D seconds without one after a completed job, 3 D otherwise: at most half,
and outside job completions a quarter, of one core goes to checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pipeline.tools.local.generations import GenerationStore, Manifest, SaveError, StateError
from pipeline.tools.local.snapshot import Services, write_generation
from pipeline.tools.local.status import Phase, StatusFile, read_json, write_json

logger = logging.getLogger("pipeline.tools.local.checkpoint")

_PR_SET_PDEATHSIG = 1
_WRITE_SLICE = 1 << 24
_real_deepcopy = copy.deepcopy
_real_dump = json.dump


@dataclass(frozen=True)
class CheckpointSettings:
    """When the running local cloud checkpoints (`PIPELINE_CHECKPOINT_*`)."""

    enabled: bool = True  # PIPELINE_CHECKPOINTS=off: save only when the cloud stops
    idle_s: float = 10.0  # PIPELINE_CHECKPOINT_IDLE: quiet time after changes before a checkpoint
    interval_s: float = 300.0  # PIPELINE_CHECKPOINT_INTERVAL: at least this often while changes keep coming
    completed_quiet_s: float = 1.0  # quiet time after a job-completed event (lets its execution finish)
    failure_backoff_s: float = 60.0  # after a failed checkpoint (full disk, read-only dir)

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] = os.environ) -> CheckpointSettings:
        return cls(
            enabled=env.get("PIPELINE_CHECKPOINTS", "on").lower() not in ("0", "off", "false", "no"),
            idle_s=float(env.get("PIPELINE_CHECKPOINT_IDLE") or cls.idle_s),
            interval_s=float(env.get("PIPELINE_CHECKPOINT_INTERVAL") or cls.interval_s),
        )


@dataclass
class _Child:
    pid: int
    changes: int  # the change count at fork time: what the generation it writes covers
    started: float


_T = TypeVar("_T")


def _shared(x: _T, memo: dict[int, Any] | None = None, _nil: Any = None) -> _T:
    """`copy.deepcopy` in the child: its memory is already a private snapshot, so no copy is needed."""
    return x


def _dump_whole(obj: Any, fp: Any, **kwargs: Any) -> None:
    """`json.dump` in the child: the C encoder (`json.dumps`) writes the same text as the pure-Python one."""
    text = json.dumps(obj, **kwargs)
    for start in range(0, len(text), _WRITE_SLICE):
        fp.write(text[start : start + _WRITE_SLICE])


def _with_copies_on_failure(get_state: Callable[[], Any]) -> Callable[[], Any]:
    """Call ``get_state`` without copies; if it fails that way, once more with real ones."""

    def call() -> Any:
        try:
            return get_state()
        except Exception:
            copy.deepcopy = _real_deepcopy
            try:
                return get_state()
            finally:
                copy.deepcopy = _shared

    return call


class Checkpointer:
    """Decides when to checkpoint, forks the writer, and writes the final save when the server stops."""

    def __init__(
        self,
        store: GenerationStore,
        status: StatusFile,
        saving: Path,
        services: Callable[[], Services],
        *,
        ministack_version: str,
        keep_fds: set[int],
        settings: CheckpointSettings | None = None,
    ) -> None:
        self.store = store
        self.status = status
        self.saving = saving
        self.services = services
        self.ministack_version = ministack_version
        self.keep_fds = keep_fds
        self.settings = settings or CheckpointSettings.from_env()
        self._lock = threading.Lock()
        self._changes = 0
        self._covered = 0  # changes included in the current generation
        self._last_change = 0.0
        self._completed_at: float | None = None
        self._child: _Child | None = None
        self._reaped = threading.Condition(self._lock)
        self._last_start = time.monotonic()
        self._last_end = time.monotonic()
        self._last_seconds = 0.0
        self._not_before = 0.0
        self._stopping = False
        self._loop: Any = None

    # ------------------------------------------------------------------ signals (any thread)
    def changed(self) -> None:
        with self._lock:
            self._changes += 1
            self._last_change = time.monotonic()

    def published(self, topic_arn: str, subject: str) -> None:
        from pipeline.tools.local.activity import JOB_COMPLETED_SUBJECT

        with self._lock:
            self._changes += 1
            self._last_change = time.monotonic()
            if subject == JOB_COMPLETED_SUBJECT:
                self._completed_at = self._last_change

    @property
    def pending(self) -> int:
        """Changes the current generation does not include."""
        with self._lock:
            return self._changes - self._covered

    # ------------------------------------------------------------------ the schedule
    def start(self, loop: Any) -> None:
        """Begin checkpointing (called on the event loop's thread once the saved state is loaded)."""
        self._loop = loop
        threading.Thread(target=self._schedule, name="pipeline-checkpointer", daemon=True).start()

    def due(self, now: float) -> str | None:
        """Why a checkpoint should start now, or None."""
        with self._lock:
            pending = self._changes - self._covered
            if not self.settings.enabled or self._stopping or self._child is not None:
                return None
            if pending <= 0 or now < self._not_before:
                return None
            since, took, quiet = now - self._last_end, self._last_seconds, now - self._last_change
            completed = self._completed_at is not None and (
                quiet >= self.settings.completed_quiet_s or now - self._completed_at >= 10
            )
            if completed and since >= took:  # at most half of the time spent checkpointing
                return "a job completed"
            if since < 3 * took:  # otherwise at most a quarter: a slow job's pauses do not add up to a busy core
                return None
            if quiet >= self.settings.idle_s:
                return "changes, then quiet"
            if now - self._last_start >= max(self.settings.interval_s, 4 * took):
                return "interval"
        return None

    def _schedule(self) -> None:
        shown, shown_at = None, 0.0
        while not self._stopping:
            time.sleep(0.25)
            pending = self.pending
            if pending != shown or time.monotonic() - shown_at > 5:
                self.status.update(pending_changes=pending)
                shown, shown_at = pending, time.monotonic()
            reason = self.due(time.monotonic())
            if reason and self._loop is not None:
                started = threading.Event()
                self._loop.call_soon_threadsafe(self._fork_checkpoint, reason, started)
                started.wait(timeout=60)

    def _fork_checkpoint(self, reason: str, started: threading.Event) -> None:
        """On the event loop's thread: fork the writer (between two requests) and return at once."""
        try:
            if self._stopping or self._child is not None:
                return
            child = self._fork()
            if child is None:  # fork failed (memory): try again later; the final save does not need a fork
                with self._lock:
                    self._not_before = time.monotonic() + self.settings.failure_backoff_s
                return
            logger.info("checkpoint %s started (%s)", child.pid, reason)
            threading.Thread(target=self._reap, args=(child,), name="pipeline-checkpoint-reaper", daemon=True).start()
        finally:
            started.set()

    def _fork(self) -> _Child | None:
        with self._lock:
            changes = self._changes
            self._completed_at = None
        try:
            pid = os.fork()
        except OSError as exc:
            logger.warning("checkpoint: cannot fork (%s)", exc)
            self.status.update(last_error=f"cannot fork a checkpoint writer: {exc.strerror or exc}")
            return None
        if pid == 0:
            self._child_main(changes)
        child = _Child(pid, changes, time.monotonic())
        with self._lock:
            self._child = child
            self._last_start = child.started
        return child

    def _reap(self, child: _Child) -> None:
        _, wait_status = os.waitpid(child.pid, 0)
        self._finished(child, os.waitstatus_to_exitcode(wait_status))

    def _finished(self, child: _Child, code: int) -> dict[str, Any] | None:
        """Record how a writer ended; its report if it committed a generation (exit code 0), else None."""
        seconds = time.monotonic() - child.started
        report: dict[str, Any] | None = None
        if code == 0:
            current = self.store.current()
            with contextlib.suppress(StateError):
                report = _done(current.manifest()) if current else None
        with self._lock:
            self._child = None
            self._last_end = time.monotonic()
            self._last_seconds = seconds
            if report is not None:
                self._covered = max(self._covered, child.changes)
            else:
                self._not_before = self._last_end + self.settings.failure_backoff_s
            self._reaped.notify_all()
        if report is not None:
            self.status.update(checkpoint=report, last_error=None, pending_changes=self.pending)
            logger.info("checkpoint: generation %s in %.1fs", report.get("generation"), seconds)
        else:
            error = read_json(self.saving).get("error") or f"the checkpoint writer exited with {code} (see the log)"
            self.status.update(last_error=error)
            logger.error("checkpoint failed: %s", error)
        return report

    # ------------------------------------------------------------------ the child
    def _progress(self, started: float, number: int) -> Callable[[str, int, int], None]:
        def report(service: str, index: int, count: int) -> None:
            write_json(
                self.saving,
                {
                    "state": "writing",
                    "pid": os.getpid(),
                    "generation": number,
                    "service": service,
                    "index": index,
                    "count": count,
                    "started": started,
                    "service_started": time.time(),
                },
            )

        return report

    def _prepare_child(self, parent: int) -> None:
        gc.disable()  # a collection would touch (and so copy) every object of the parent
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the server died before the line above
            os._exit(1)
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > 2 and fd not in self.keep_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        copy.deepcopy = _shared
        json.dump = _dump_whole

    def _child_main(self, changes: int) -> NoReturn:
        code = 1
        try:
            self._prepare_child(os.getppid())
            services = {name: _with_copies_on_failure(fn) for name, fn in self.services().items()}
            manifest = self._write(services, changes)
            write_json(self.saving, _done(manifest))
            code = 0
        except BaseException as exc:  # the child must never return into the server's event loop
            with contextlib.suppress(BaseException):
                write_json(self.saving, {"state": "failed", "error": str(exc), "pid": os.getpid()})
        finally:
            os._exit(code)

    def _write(self, services: Services, changes: int) -> Manifest:
        started = time.time()
        return write_generation(
            self.store,
            services,
            ministack_version=self.ministack_version,
            changes=changes,
            progress=self._progress(started, self.store.next_number()),
        )

    # ------------------------------------------------------------------ the final save (server stopping)
    def final_save(self, services: Services) -> None:
        """Replaces MiniStack's shutdown `save_all`: wait for a checkpoint in flight, then save what it lacks.

        Runs on the event loop's thread during the lifespan shutdown; takes as long as the save takes.
        """
        started = time.monotonic()
        self.status.update(phase=Phase.SAVING, saving_since=time.time())
        with self._lock:
            self._stopping = True
            while self._child is not None:
                self._reaped.wait(timeout=1)
            pending = self._changes - self._covered
            changes = self._changes
        if pending <= 0:
            self.status.update(phase=Phase.STOPPED, final={"saved": False, "reason": "nothing changed"})
            return
        child = self._fork()
        try:
            if child is not None:
                _, wait_status = os.waitpid(child.pid, 0)
                written = self._finished(child, os.waitstatus_to_exitcode(wait_status))
                if written is None:
                    raise SaveError(read_json(self.saving).get("error") or "the save was interrupted (see the log)")
                report = written
            else:  # no fork possible: MiniStack's own path, in this process (nothing else runs now)
                manifest = self._write(services, changes)
                report = _done(manifest)
                with self._lock:
                    self._covered = changes
                self.status.update(checkpoint=report)
            self.status.update(
                phase=Phase.STOPPED,
                final={"saved": True, "seconds": round(time.monotonic() - started, 1), **report},
            )
        except SaveError as exc:
            logger.error("the final save failed: %s", exc)
            self.status.update(phase=Phase.STOPPED, final={"saved": False, "error": str(exc)})


def _done(manifest: Manifest) -> dict[str, Any]:
    return {
        "state": "done",
        "generation": manifest.generation,
        "at": manifest.created,
        "seconds": manifest.seconds,
        "cpu_seconds": manifest.cpu_seconds,
        "bytes": manifest.size,
        "changes": manifest.changes,
        "finished": time.time(),
    }
