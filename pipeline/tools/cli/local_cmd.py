"""`pipeline local start|stop|status`: the embedded local cloud, with progress while it loads or saves state."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from pipeline.tools.cli import ops
from pipeline.tools.cli.target import resolve
from pipeline.tools.cli.views import Ticker, console, emit_json, err, local_state, mapping_table


@click.group()
def local() -> None:
    """Run the embedded local cloud (MiniStack on loopback)."""


@local.command("start")
def local_start() -> None:
    """Start the local cloud (state persists in $PIPELINE_STATE_DIR, default ./.pipeline)."""
    cloud = resolve(None)
    local = ops.local_cloud(cloud)
    with Ticker() as tick:
        started = ops.start_local(cloud, lambda line: console.print(escape(line), soft_wrap=True), tick)
    if not started:
        console.print(f"local cloud already running at {local.endpoint} (state in {local.state_dir})")


@local.command("stop")
@click.option(
    "--force",
    is_flag=True,
    help="Kill it at once instead of letting it save: changes since its last checkpoint are lost.",
)
def local_stop(force: bool) -> None:
    """Stop the local cloud; it saves what changed since its last checkpoint first, however long that takes."""
    local = ops.local_cloud(resolve(None))
    with Ticker() as tick:
        report = local.stop(force=force, progress=tick)
    console.print(escape(report.message), soft_wrap=True)
    if report.was_running and not report.saved and not report.forced:
        sys.exit(1)


@local.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def local_status(as_json: bool) -> None:
    """Show whether the local cloud runs, its endpoint, its saved state, its size and the stack outputs."""
    status = ops.local_status(resolve(None))
    if as_json:
        emit_json(status)
        return
    shown = {k: v for k, v in status.items() if k not in ("outputs", "state", "capacity", "warnings")}
    console.print(mapping_table({**shown, **local_state(status["state"], status["capacity"])}, "Local cloud"))
    if status["outputs"]:
        console.print(mapping_table(status["outputs"], "Stack outputs"))
    for warning in status["warnings"]:
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
