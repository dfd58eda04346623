"""Our adaptations of MiniStack, installed by the launcher before it serves: one small module each.

Each module has ``install(app, context)``: ``app`` is the imported `ministack.app` module, ``context`` the
`pipeline.tools.local.launcher.LaunchContext` (state dir, status file, the generation being loaded). An adaptation
changes MiniStack only through names it looks up at call time (a module attribute, a class setting), never by
copying its code. To add one (a fix for another Athena difference, say): write
`pipeline/tools/local/adapt/<name>.py` with its `install`, list it in `ADAPTATIONS`, and add a row to
docs/local-cloud.md saying what MiniStack does and what the adaptation changes.
"""

from __future__ import annotations

from pipeline.tools.local.adapt import (
    athena_execution_parameters,
    athena_null_format,
    athena_parquet_columns,
    athena_results,
    athena_unload,
    durability,
    lifespan_timeouts,
)

ADAPTATIONS = (
    lifespan_timeouts,
    athena_null_format,
    athena_parquet_columns,
    athena_results,
    athena_unload,
    athena_execution_parameters,
    durability,
)

__all__ = ["ADAPTATIONS"]
