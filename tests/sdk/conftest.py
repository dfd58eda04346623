"""The authoring tests need the optional `sdk` extra; CI runs them in a venv of their own (see .ci/run)."""

from __future__ import annotations

import importlib.util
import os

if importlib.util.find_spec("stepfunctions") is None and os.environ.get("PIPELINE_SDK_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]
