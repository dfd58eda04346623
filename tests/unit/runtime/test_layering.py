"""The Lambda code imports only the runtime: nothing in pipeline/runtime/ or handlers/ imports the tools or the CLI.

The code zip holds pipeline/runtime/ and handlers/ only, so such an import would fail in a Lambda, and only
when the line runs (a lazy import inside a function) — this test finds it before a deploy does.
"""

from __future__ import annotations

import ast

from conftest import REPO


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def test_lambda_code_imports_only_the_runtime():
    sources = sorted((REPO / "pipeline" / "runtime").rglob("*.py")) + sorted((REPO / "handlers").glob("*.py"))
    assert len(sources) > 30
    wrong = {
        f"{path.relative_to(REPO)}: {name}"
        for path in sources
        for name in _imports(path)
        if (name == "pipeline" or name.startswith("pipeline.")) and not name.startswith("pipeline.runtime")
    }
    assert wrong == set()
