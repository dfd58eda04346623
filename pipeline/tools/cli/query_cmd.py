"""`pipeline query`: SQL through Athena against a stage's Glue database."""

from __future__ import annotations

import click

from pipeline.tools.cli import ops, views
from pipeline.tools.cli.options import aws_options, json_option, target


@click.command()
@click.argument("sql")
@click.option(
    "--param",
    "-p",
    multiple=True,
    help="NAME=VALUE for %(NAME)s in the SQL, sent as a server-side execution parameter (write a literal % as %%).",
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@aws_options
@json_option
def query(sql: str, param: tuple[str, ...], as_csv: bool, as_json: bool) -> None:
    """Run SQL through Athena against the stage's Glue database."""
    from pipeline.tools.query import parse_parameters

    parameters = parse_parameters(param)
    result = ops.query(ops.outputs(target()), sql, parameters)
    views.show_query(result.columns, result.rows, as_json, as_csv)
