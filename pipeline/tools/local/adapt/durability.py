"""Durable state: MiniStack's load and shutdown save go through whole generations, and the cloud checkpoints.

MiniStack saves state only at shutdown, one file per service written over the last save's, and loads whatever
files it finds. Installed here, in `ministack.app`'s namespace (names its lifespan looks up when it runs):

* `save_all` (the shutdown save) becomes `Checkpointer.final_save`: a new generation, or nothing if no change
  was made since the last checkpoint;
* `load_state` and `_load_persisted_state` report progress and any service that fails to load (its generation
  is then pinned, so later saves can never prune the only copy of that service's state);
* `app` is wrapped by `ActivityTracker`, and SNS's fan-out watched for `job-completed`, to schedule
  checkpoints of the running cloud.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pipeline.tools.local.activity import ActivityTracker, watch_fanout
from pipeline.tools.local.checkpoint import Checkpointer
from pipeline.tools.local.status import Phase

if TYPE_CHECKING:
    from pipeline.tools.local.launcher import LaunchContext


class _LoadErrors(logging.Handler):
    """The errors MiniStack logs (and then carries on empty) when a service's saved state does not load."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _patch(module: ModuleType, **names: Any) -> None:
    """Replace globals of one of MiniStack's modules."""
    for name, value in names.items():
        setattr(module, name, value)


def install(app: ModuleType, context: LaunchContext) -> None:
    checkpointer = Checkpointer(
        context.store,
        context.status,
        context.saving,
        app._build_persistence_save_dict,
        ministack_version=context.ministack_version,
        keep_fds={context.lock_fd},
    )
    context.checkpointer = checkpointer
    _patch(app, save_all=checkpointer.final_save, app=ActivityTracker(app.app, checkpointer.changed))
    watch_fanout(app._get_module("sns"), checkpointer.published)
    _report_loading(app, context, checkpointer)


def _report_loading(app: ModuleType, context: LaunchContext, checkpointer: Checkpointer) -> None:
    load_state, load_all = app.load_state, app._load_persisted_state
    failed: dict[str, str] = {}
    errors = _LoadErrors()
    current = context.store.current_link

    def tracked_load(service: str) -> Any:
        context.status.update(progress={"step": f"loading {service}", "since": time.time()})
        before = len(errors.messages)
        data = load_state(service)
        if data is None and (current / f"{service}.json").exists():
            failed[service] = "; ".join(errors.messages[before:]) or "it could not be read"
        return data

    def tracked_load_all() -> None:
        started = time.monotonic()
        context.status.update(phase=Phase.LOADING)
        for name in ("persistence", "ministack"):
            logging.getLogger(name).addHandler(errors)
        try:
            load_all()
        finally:
            for name in ("persistence", "ministack"):
                logging.getLogger(name).removeHandler(errors)
        restore = [m for m in errors.messages if m.startswith("Failed to restore persisted state for")]
        for message in restore:
            failed[message.removeprefix("Failed to restore persisted state for ").split(";")[0]] = message
        if failed:
            context.store.pin(context.selection.generation)
        context.status.update(
            phase=Phase.SERVING,
            progress=None,
            loaded={
                "generation": context.selection.generation.number,
                "created": context.selection.manifest.created,
                "bytes": context.selection.manifest.size,
                "seconds": round(time.monotonic() - started, 1),
                "notes": context.selection.notes,
                "lost": context.selection.lost,
                "failed": failed,
            },
            checkpoint={
                "generation": context.selection.generation.number,
                "at": context.selection.manifest.created,
                "finished": os.stat(context.selection.generation.path).st_mtime,
            },
        )
        checkpointer.start(asyncio.get_running_loop())

    _patch(app, load_state=tracked_load, _load_persisted_state=tracked_load_all)
