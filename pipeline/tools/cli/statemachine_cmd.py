"""`pipeline statemachine render [--check]`: the state machine authored in Python with the stepfunctions SDK."""

from __future__ import annotations

import json
import sys

import click

from pipeline.runtime.errors import PipelineError
from pipeline.tools.cli import views
from pipeline.tools.cli.exits import Exit


@click.group()
def statemachine() -> None:
    """Author the state machine in Python with the `stepfunctions` SDK (`pip install -e '.[sdk]'`)."""


@statemachine.command("render")
@click.option("--check", is_flag=True, help="Only check that the committed ASL matches; exit 1 if it drifted.")
def statemachine_render(check: bool) -> None:
    """Render statemachines/batch.asl.json from pipeline/tools/authoring/batch.py."""
    try:
        from pipeline.tools.authoring import batch
    except ImportError as exc:
        raise PipelineError(f"the stepfunctions SDK is not installed ({exc}): pip install -e '.[sdk]'") from exc
    if check:
        same = batch.render() == json.loads(batch.ASL_PATH.read_text())
        views.console.print(
            "[green]✓ in step[/]" if same else f"[red]✗ {batch.ASL_PATH.name} drifted from the authoring[/]"
        )
        sys.exit(Exit.OK if same else Exit.ERROR)
    views.console.print(f"wrote {batch.write()}")
