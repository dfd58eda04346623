"""The `pipeline console` command."""

from __future__ import annotations

import click

from pipeline.tools.cli import ops
from pipeline.tools.cli.options import aws_options, target


@click.command("console")
@click.option("--port", default=8080, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@aws_options
@click.option("--allow-writes", is_flag=True, help="Enable the one action that writes: redriving a failed job.")
def console_command(port: int, allow_writes: bool) -> None:
    """Serve a web console on 127.0.0.1: live jobs, executions as graphs, Athena queries, health."""
    from pipeline.tools.console.api import ConsoleApi
    from pipeline.tools.console.server import make_server, serve

    cloud = target()
    outs = ops.outputs(cloud)
    server = make_server(ConsoleApi(outs, cloud.stage, allow_writes), port)
    mode = "writes allowed: redrive" if allow_writes else "read-only"
    click.echo(f"console for stage {cloud.stage} at http://127.0.0.1:{server.server_port}/ ({mode}); Ctrl-C stops it")
    serve(server)
