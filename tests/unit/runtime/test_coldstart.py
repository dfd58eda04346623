"""Inside a Lambda, pyarrow's first conversions must not import pandas (pipeline/runtime/coldstart.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO

from pipeline.runtime import coldstart

PROBE = """
import sys
import handlers  # runs coldstart.prepare()
import pyarrow as pa
import pyarrow.compute as pc
table = pa.table({"a": pa.array(["x", "y", None])})
assert pc.fill_null(table.column("a"), "-").to_pylist() == ["x", "y", "-"]
assert pa.scalar(None, pa.string()).as_py() is None
print("pandas" in sys.modules)
try:
    import pandas
except ModuleNotFoundError:
    print("hidden")
else:
    print("importable")
"""


def _probe(environ: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_FUNCTION_NAME"} | environ
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_a_lambda_process_never_imports_pandas_and_pyarrow_still_converts() -> None:
    assert _probe({"AWS_LAMBDA_FUNCTION_NAME": "pipeline-x-upload", "POWERTOOLS_TRACE_DISABLED": "true"}) == [
        "False",
        "hidden",
    ]


def test_outside_a_lambda_pandas_stays_importable() -> None:
    assert _probe({})[1] == "importable"


def test_prepare_does_nothing_outside_a_lambda_or_once_pandas_is_loaded(monkeypatch) -> None:
    assert coldstart.prepare({}) is False
    monkeypatch.setitem(sys.modules, "pandas", sys.modules.get("pandas") or object())
    assert coldstart.prepare({"AWS_LAMBDA_FUNCTION_NAME": "f"}) is False
    assert not any(isinstance(f, coldstart.HiddenModules) for f in sys.meta_path)


def test_hidden_modules_refuses_the_package_and_its_submodules_only() -> None:
    finder = coldstart.HiddenModules(["pandas"])
    for name in ("pandas", "pandas.core.frame"):
        try:
            finder.find_spec(name)
        except ModuleNotFoundError as exc:
            assert exc.name == name
        else:
            raise AssertionError(f"{name} was not refused")
    assert finder.find_spec("pandas_extra") is None
    assert finder.find_spec("pyarrow") is None
