"""Event-driven CSV pipeline: S3 -> SNS -> Lambda -> DynamoDB + partitioned CSV -> Athena."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_FRAMES = "pipeline.tools.query.frames"
_LAZY = {"query_df": _FRAMES, "query_arrow": _FRAMES}  # pandas loads on first use


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")


__all__ = ["__version__", "query_arrow", "query_df"]
