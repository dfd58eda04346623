"""`python -m pipeline`, one version, and exit codes that do not collide with click's usage code."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import click
from click.testing import CliRunner

from pipeline.tools.cli.exits import Exit
from pipeline.tools.cli.main import cli


def test_python_dash_m_pipeline_is_the_cli_and_its_version_is_the_packages() -> None:
    done = subprocess.run([sys.executable, "-m", "pipeline", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pipeline, version {metadata.version('s3-csv-pipeline')}"


def test_the_codes_are_distinct_and_usage_is_clicks() -> None:
    assert len(set(Exit)) == len(Exit) == 5
    assert Exit.USAGE == click.UsageError.exit_code == 2
    assert {Exit.NOT_COMPLETE, Exit.DISAGREES}.isdisjoint({0, 1, 2})


def test_a_usage_mistake_exits_2_with_clicks_message() -> None:
    for args in (["ingest"], ["jobs", "wait"], ["no-such-command"], ["reconcile", "--bogus"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == Exit.USAGE, (args, result.output)
        assert "Traceback" not in result.output
