"""Small JSON files through which the running local cloud tells the CLI what it is doing (loading, saving, saved).

The server writes them (each write is a whole new file renamed into place, so a reader never sees half of one);
`pipeline local start`, `stop` and `status` read them. Nothing here is needed to load or save state: a status
file that cannot be written is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

STATUS = "status.json"  # the server's phase, what it loaded, its last checkpoint
SAVING = "saving.json"  # progress of the save being written


class Phase(StrEnum):
    PREPARING = "preparing"  # choosing and checking the saved state
    LOADING = "loading"  # MiniStack is reading it
    SERVING = "serving"
    SAVING = "saving"  # stopping: the final save is being written
    STOPPED = "stopped"  # the final save is done (or there was nothing to save): the process is exiting
    REFUSED = "refused"  # the saved state cannot be loaded; nothing was changed


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` in one rename; a failure to write (full disk, read-only dir) is ignored."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        temporary.write_text(json.dumps(data, default=str))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


def read_json(path: Path) -> dict[str, Any]:
    """The content of a status file, or {} when there is none (or it is being replaced)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class StatusFile:
    """The server's `status.json`: fields merged in by any thread, the whole file rewritten each time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {}

    def reset(self, **fields: Any) -> None:
        with self._lock:
            self._data = {}
        self.update(**fields)

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._data.update(fields, updated=time.time())
            write_json(self.path, self._data)

    def get(self, name: str, default: Any = None) -> Any:
        with self._lock:
            return self._data.get(name, default)
