"""`pipeline logs JOB [--follow]`: every function's log lines for one job."""

from __future__ import annotations

import click

from pipeline.cli import ops
from pipeline.cli.target import resolve
from pipeline.cli.views import emit_json, print_log_lines

STAGE = click.option("--stage", default=None, help="AWS stage to use; omit for the embedded local cloud.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.command("logs")
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the job is finished.")
@STAGE
@JSON
def logs(job_id: str, follow: bool, stage: str | None, as_json: bool) -> None:
    """Show every function's log lines for one job (its id, or the first characters of it), oldest first."""
    from pipeline.cli import logs as job_logs
    from pipeline.jobs.model import FINISHED

    outs = ops.outputs(resolve(stage))
    job = ops.resolve_job(outs, job_id)
    start = job_logs.start_of(job)

    def show(lines: list[job_logs.LogLine]) -> None:
        if as_json:  # one JSON object a line when following, so a script can read them as they come
            for line in lines:
                emit_json(line.as_dict(), indent=None)
        else:
            print_log_lines(lines)

    if not follow:
        lines = job_logs.job_lines(outs, job["job_id"], start)
        emit_json([line.as_dict() for line in lines]) if as_json else print_log_lines(lines)
        return

    def finished() -> bool:
        return ops.JobStore(outs["JobsTable"]).get(job["job_id"]).get("status") in FINISHED

    job_logs.follow(outs, job["job_id"], start, show, finished)
