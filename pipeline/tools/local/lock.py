"""One local cloud per state directory: the server holds an exclusive `flock` on `<state dir>/lock` while it lives.

The lock belongs to the open file, so a checkpoint child forked by the server keeps it until it exits too, and
the kernel releases it however the process ends (kill -9 included): there is no stale lock to clean up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path


class StateLock:
    """The exclusive lock of a state directory, with the pid of its holder written inside."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, wait: float = 0.0, *, record: bool = True) -> bool:
        """Take the lock, retrying for ``wait`` seconds; False if another process holds it.

        ``record`` writes this process's pid into the file (a probe that releases at once does not).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.1)
        if record:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return True

    def holder(self) -> int | None:
        """The pid written by the process that holds (or last held) the lock."""
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
