"""`pipeline reconcile`, `redrive` and `sweep`: check a job to the row, and finish what did not finish."""

from __future__ import annotations

import sys

import click

from pipeline.tools.cli import ops, views
from pipeline.tools.cli.data_cmd import exit_unless_complete, wait_showing_progress
from pipeline.tools.cli.exits import Exit
from pipeline.tools.cli.options import aws_options, json_option, target


@click.command()
@click.argument("job_id")
@aws_options
@json_option
def reconcile(job_id: str, as_json: bool) -> None:
    """Check a job to the row; exit 4 with the differences when a COMPLETE job's stores disagree, 1 when the job
    has nothing to compare yet (not COMPLETE)."""
    job, result = ops.reconcile(ops.outputs(target()), job_id)
    views.show_reconciliation(result, as_json)
    if not result.ok:  # a finished job whose stores disagree, or a job with nothing to compare yet (an error)
        sys.exit(Exit.DISAGREES if job.get("status") == "COMPLETE" else Exit.ERROR)


@click.command()
@click.argument("job_id", required=False)
@click.option("--repage", is_flag=True, help="Page the whole file again (pages already DONE are skipped).")
@click.option(
    "--interrupted",
    is_flag=True,
    help="Redrive every job whose execution ended without finishing it, or whose inline processor was killed.",
)
@click.option("--wait", is_flag=True, help="Wait for the redriven jobs to finish; exit 3 unless all are COMPLETE.")
@aws_options
@json_option
def redrive(job_id: str | None, repage: bool, interrupted: bool, wait: bool, as_json: bool) -> None:
    """Reprocess what a FAILED or interrupted job did not finish: its failed pages, then the rest of the file."""
    if bool(job_id) == interrupted:
        raise click.UsageError("give either a JOB_ID or --interrupted")
    outs = ops.outputs(target())
    actions = ops.redrive(outs, job_id, repage)
    jobs = []
    if wait and actions:
        jobs = wait_showing_progress(outs, ops.uploads_of(outs, [a["job_id"] for a in actions]), as_json)
    views.show_redriven(actions, jobs, as_json)
    exit_unless_complete(jobs)


@click.command("sweep")
@click.option("--dataset", default=None, help="Only object versions under <dataset>/.")
@click.option("--since", default=None, help="Only versions uploaded since: an ISO 8601 time or an age (30m, 2h, 7d).")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    default=1800,
    show_default=True,
    help="Seconds a job may sit RECEIVED or PROCESSING (and a version without a job may wait) before it is swept.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be handed over.")
@click.option("--wait", is_flag=True, help="Wait for the swept jobs to finish; exit 3 unless all are COMPLETE.")
@aws_options
@json_option
def sweep(dataset: str | None, since: str | None, older_than: float, dry_run: bool, wait: bool, as_json: bool) -> None:
    """Hand every object version without a job, or with a stuck job, to processing again (idempotent)."""
    outs = ops.outputs(target())
    strays = ops.sweep(outs, dataset, since, older_than, dry_run)
    jobs = []
    if wait and strays and not dry_run:
        jobs = wait_showing_progress(outs, [{"key": s.key, "version_id": s.version_id} for s in strays], as_json)
    views.show_swept(strays, jobs, as_json)
    exit_unless_complete(jobs)
