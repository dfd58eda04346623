"""`python -m pipeline`: the `pipeline` command, for environments without its console script on PATH."""

from __future__ import annotations

from pipeline.tools.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="pipeline")
