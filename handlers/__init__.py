"""Thin Lambda entry points: parse the event, call `pipeline`, return."""

from pipeline.runtime.lean_imports import hide_pandas_in_lambda

hide_pandas_in_lambda()  # before anything touches pyarrow (pipeline/runtime/lean_imports.py)
