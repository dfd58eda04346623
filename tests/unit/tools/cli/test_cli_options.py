"""Every command that talks to AWS takes the shared options; the rendering lives in views.py only."""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest

from pipeline.tools.cli.main import cli

TALKS_TO_AWS = [
    "outputs", "deploy", "ingest", "jobs", "jobs show", "jobs wait", "executions", "executions show", "query",
    "reconcile", "redrive", "sweep", "logs", "schema diff", "console",
]  # fmt: skip
CLI = Path(__file__).resolve().parents[2] / "pipeline" / "cli"


def _command(path: str) -> click.Command:
    command: click.Command = cli
    for name in path.split():
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None, path
        command = found
    return command


@pytest.mark.parametrize("path", TALKS_TO_AWS)
def test_the_shared_options_are_on_every_command_that_talks_to_aws(path: str) -> None:
    options = {option for param in _command(path).params for option in getattr(param, "opts", [])}
    assert {"--stage", "--region", "--profile"} <= options, path
    if path != "console":  # a web server: nothing to print as JSON
        assert "--json" in options, path


def test_commands_do_not_render_or_assert() -> None:
    """Tables are built in views.py; no command module uses `assert` as control flow or imports mid-file."""
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Assert)], path.name
        if path.name != "views.py":
            assert "Table(" not in path.read_text() and "rows_table(" not in path.read_text(), path.name
        seen_code = False
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                seen_code = True
            elif isinstance(node, ast.Import | ast.ImportFrom):
                assert not seen_code, f"{path.name}: import after code at line {node.lineno}"
