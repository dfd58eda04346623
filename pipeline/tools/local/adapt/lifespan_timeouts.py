"""Hypercorn gives an ASGI app 60 s to start and 60 s to shut down; MiniStack loads and saves its state in those.

With a million DynamoDB items either takes longer (see docs/local-cloud-limits.md), and past the limit hypercorn
gives up: a start fails, a stop ends with an error after the save. Loading and saving take the time they need
(the CLI shows their progress), so both limits are lifted.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.tools.local.launcher import LaunchContext


def install(app: ModuleType, context: LaunchContext) -> None:
    from hypercorn.config import Config

    Config.startup_timeout = None  # type: ignore[assignment]  # asyncio.wait_for(timeout=None): no limit
    Config.shutdown_timeout = None  # type: ignore[assignment]
