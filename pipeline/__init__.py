"""Event-driven CSV pipeline: S3 -> SNS -> Lambda -> DynamoDB + partitioned CSV -> Athena.

The version has one source, pyproject.toml: `importlib.metadata.version("s3-csv-pipeline")`, `pipeline --version`.
`pipeline.query_df` / `pipeline.query_arrow` (docs/pandas.md) load pandas on first use.
"""

from __future__ import annotations

from typing import Any

_FRAMES = "pipeline.tools.query.frames"
_LAZY = {"query_df": _FRAMES, "query_arrow": _FRAMES}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


__all__ = ["query_arrow", "query_df"]
