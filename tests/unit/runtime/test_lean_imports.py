"""Inside a Lambda, pandas stays out of the process and pyarrow works without it (pipeline/runtime/lean_imports.py).

Each case runs in a fresh interpreter, as a Lambda worker starts: the oracle is that interpreter's `sys.modules`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import REPO

from pipeline.tools.sample import write_orders

PAGE = textwrap.dedent(
    """
    import sys
    import handlers.page_worker  # the entry point a page worker imports
    from pipeline.runtime.contract import load_contract
    from pipeline.runtime.pages.process import validate_records
    from pipeline.runtime.sinks.dynamodb import encode_items

    contract = load_contract("orders")
    body = open(sys.argv[1], "rb").read()
    header, rest = body.split(b"\\n", 1)
    page = validate_records(rest, header.decode().split(","), contract, first_line=2)
    encode_items(page.table, contract, "job", page.lines)
    try:
        import pandas  # noqa: F401
        hidden = False
    except ImportError:
        hidden = True
    print(page.table.num_rows, "pandas" in sys.modules, hidden)
    """
)


def _run(tmp_path: Path, env: dict[str, str]) -> list[str]:
    path = tmp_path / "orders.csv"
    write_orders(path, 500, seed=7)
    done = subprocess.run(
        [sys.executable, "-c", PAGE, str(path)], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_lambda_validates_and_encodes_a_page_without_importing_pandas(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "pipeline-local-page-worker", "LAMBDA_TASK_ROOT": str(REPO)}
    rows, imported, hidden = _run(tmp_path, env)
    assert int(rows) > 0 and imported == "False" and hidden == "True"


def test_outside_a_lambda_nothing_changes(tmp_path: Path) -> None:
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "a-test-setting-the-name"}  # no LAMBDA_TASK_ROOT: not a runtime
    env.pop("LAMBDA_TASK_ROOT", None)
    rows, imported, hidden = _run(tmp_path, env)
    assert int(rows) > 0 and imported == "True" and hidden == "False"  # pyarrow imported pandas, as it does
