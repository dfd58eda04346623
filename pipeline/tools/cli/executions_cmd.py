"""`pipeline executions [show]`: the state machine's executions, and one state by state."""

from __future__ import annotations

import click

from pipeline.tools.cli import ops, views
from pipeline.tools.cli.options import aws_options, json_option, target


@click.group(invoke_without_command=True)
@aws_options
@json_option
@click.pass_context
def executions(ctx: click.Context, as_json: bool) -> None:
    """List state machine executions with their job, file and page progress."""
    if ctx.invoked_subcommand:
        return
    views.show_executions(ops.executions(ops.outputs(target())), as_json)


@executions.command("show")
@click.argument("name")
@aws_options
@json_option
def executions_show(name: str, as_json: bool) -> None:
    """Show one execution state by state: input, output, duration, error (the paging loop summarised)."""
    views.show_timeline(ops.execution_timeline(ops.outputs(target()), name), as_json)
