"""`pipeline deploy` and `pipeline outputs`: put a stage's stack up, and say where its resources are."""

from __future__ import annotations

import click

from pipeline.tools.cli import ops, views
from pipeline.tools.cli.options import aws_options, json_option, target


@click.command()
@aws_options
@click.option("--local", "use_local", is_flag=True, help="Deploy into the embedded local cloud.")
@click.option(
    "--parameter",
    "-p",
    multiple=True,
    help="Template parameter override, KEY=VALUE; parameters not given keep the value the stage runs with.",
)
@click.option(
    "--allow-stricter", multiple=True, metavar="DATASET", help="Apply stricter rules to new files of DATASET."
)
@click.option(
    "--archive-output",
    multiple=True,
    metavar="DATASET",
    help="Move DATASET's output to _archive/ to apply unsafe changes.",
)
@json_option
def deploy(
    use_local: bool,
    parameter: tuple[str, ...],
    allow_stricter: tuple[str, ...],
    archive_output: tuple[str, ...],
    as_json: bool,
) -> None:
    """Package the code and deploy the stack (change set, progress, outputs).

    Contract changes are compared with the stage first: safe ones are applied, stricter and unsafe ones refused
    unless allowed (see docs/bring-your-own-data.md).
    """
    from pipeline.tools.deploy.parameters import parse_overrides
    from pipeline.tools.schema.evolve import Evolution

    params = parse_overrides(parameter)
    cloud = target(local=use_local)
    evolution = Evolution(frozenset(allow_stricter), frozenset(archive_output))
    outs = ops.deploy(cloud, params, views.progress_printer(), evolution)
    views.show_mapping(outs, f"Stack {cloud.stack_name}", as_json)


@click.command()
@aws_options
@json_option
def outputs(as_json: bool) -> None:
    """Show the endpoint, buckets, tables, Glue database and Athena workgroup of a stage."""
    views.show_mapping(ops.outputs(target()), "Stack outputs", as_json)
