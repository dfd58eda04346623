"""`pipeline jobs [show|wait]`: the jobs of a stage, one job in detail, waiting for jobs."""

from __future__ import annotations

import click

from pipeline.tools.cli import ops, views
from pipeline.tools.cli.data_cmd import exit_unless_complete, wait_showing_progress
from pipeline.tools.cli.options import aws_options, json_option, target


@click.group(invoke_without_command=True)
@aws_options
@json_option
@click.pass_context
def jobs(ctx: click.Context, as_json: bool) -> None:
    """List jobs, newest first."""
    if ctx.invoked_subcommand:
        return
    views.show_jobs(ops.jobs(ops.outputs(target())), as_json)


@jobs.command("show")
@click.argument("job_id")
@aws_options
@json_option
def jobs_show(job_id: str, as_json: bool) -> None:
    """Show one job with its pages, counts, outputs, rejects and execution."""
    job, pages = ops.job_detail(ops.outputs(target()), job_id)
    views.show_job(job, pages, as_json)


@jobs.command("wait")
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...")
@click.option("--timeout", type=click.FloatRange(min=0), default=3600, show_default=True, help="Seconds to wait.")
@aws_options
@json_option
def jobs_wait(job_ids: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Wait until the jobs are finished; exit 3 unless every one is COMPLETE."""
    outs = ops.outputs(target())
    found = [ops.resolve_job(outs, job_id)["job_id"] for job_id in job_ids]
    waited = wait_showing_progress(outs, ops.uploads_of(outs, found), as_json, timeout)
    views.show_jobs(waited, as_json)
    exit_unless_complete(waited)
