"""`pipeline`: run the CSV pipeline on the embedded local cloud or on AWS.

The group only gathers the commands: each command group has its module (`*_cmd.py`), whose commands parse their
arguments and call a plain function (`ops.py`, `logs.py`) and a view (`views.py`).
"""

from __future__ import annotations

import click

from pipeline.tools.cli import (
    bench_cmd,
    data_cmd,
    deploy_cmd,
    executions_cmd,
    jobs_cmd,
    local_cmd,
    logs_cmd,
    operate_cmd,
    query_cmd,
    schema_cmd,
    ship,
    statemachine_cmd,
)
from pipeline.tools.cli.errors import ErrorBoundary
from pipeline.tools.console.command import console_command


@click.group(cls=ErrorBoundary)
@click.version_option(package_name="s3-csv-pipeline")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error (also PIPELINE_DEBUG=1).")
def cli(debug: bool) -> None:
    """Drop CSV files in, get validated data out: S3 -> SNS -> Lambda -> DynamoDB + S3 -> Athena."""


for command in (
    local_cmd.local,
    logs_cmd.logs,
    deploy_cmd.deploy,
    deploy_cmd.outputs,
    data_cmd.ingest,
    jobs_cmd.jobs,
    query_cmd.query,
    data_cmd.sample,
    data_cmd.demo,
    executions_cmd.executions,
    operate_cmd.reconcile,
    operate_cmd.redrive,
    operate_cmd.sweep,
    ship.package_command,
    ship.destroy,
    ship.bootstrap,
    statemachine_cmd.statemachine,
    bench_cmd.bench,
    bench_cmd.cost,
    console_command,
    schema_cmd.schema,
):
    cli.add_command(command)
