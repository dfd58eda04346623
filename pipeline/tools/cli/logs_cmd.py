"""`pipeline logs JOB [--follow]`: every function's log lines for one job."""

from __future__ import annotations

import click

from pipeline.tools.cli import ops, views
from pipeline.tools.cli.options import aws_options, json_option, target


@click.command("logs")
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job is finished.")
@aws_options
@json_option
def logs(job_id: str, follow: bool, as_json: bool) -> None:
    """Show every function's log lines for one job (its id, or the first characters of it), oldest first."""
    from pipeline.runtime.jobs.model import FINISHED
    from pipeline.tools.cli import logs as job_logs

    outs = ops.outputs(target())
    job = ops.resolve_job(outs, job_id)
    start = job_logs.start_of(job)
    if not follow:
        views.show_log_lines(job_logs.job_lines(outs, job["job_id"], start), as_json)
        return
    job_logs.follow(
        outs,
        job["job_id"],
        start,
        lambda lines: views.show_log_lines(lines, as_json, streaming=True),
        lambda: ops.job_status(outs, job["job_id"]) in FINISHED,
    )
