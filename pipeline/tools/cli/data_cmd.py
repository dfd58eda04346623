"""`pipeline ingest`, `sample` and `demo`: put files in."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pipeline.runtime.errors import PipelineError
from pipeline.tools.cli import ops, views
from pipeline.tools.cli.exits import Exit
from pipeline.tools.cli.options import aws_options, json_option, target
from pipeline.tools.cli.target import resolve


def wait_showing_progress(
    outs: dict[str, str], uploads: list[dict[str, str]], as_json: bool, timeout: float = 3600
) -> list[dict[str, Any]]:
    """Wait for the uploads' jobs, with a progress line for people."""
    return views.watching(as_json, lambda on_update: ops.wait_for(outs, uploads, on_update, timeout))


def exit_unless_complete(jobs: list[dict[str, Any]]) -> None:
    """Exit 3 when a job waited for is not COMPLETE."""
    if any(j.get("status") != "COMPLETE" for j in jobs):
        sys.exit(Exit.NOT_COMPLETE)


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="Dataset (schema) the file belongs to.")
@click.option("--key", default=None, help="Object key (default <dataset>/<file name>).")
@click.option("--wait", is_flag=True, help="Wait for the job to finish, showing progress; exit 3 unless COMPLETE.")
@aws_options
@json_option
def ingest(path: Path, dataset: str, key: str | None, wait: bool, as_json: bool) -> None:
    """Upload a CSV file into the ingest bucket under <dataset>/."""
    cloud = target()
    outs = ops.outputs(cloud)
    if warning := ops.capacity_warning(cloud, path, dataset):
        views.warn(warning)
    upload = ops.ingest(path, dataset, outs, key)
    if not wait:
        views.emit_json(upload) if as_json else views.console.print(f"uploaded s3://{upload['bucket']}/{upload['key']}")
        return
    jobs = wait_showing_progress(outs, [upload], as_json)
    views.emit_json(jobs[0]) if as_json else views.console.print(views.jobs_table(jobs))
    exit_unless_complete(jobs[:1])


@click.command()
@click.argument("dataset", default="orders")
@click.option("--rows", default=10_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def sample(dataset: str, rows: int, seed: int, out: Path) -> None:
    """Write a realistic sample CSV for a shipped dataset."""
    from pipeline.tools.sample import write_orders

    if dataset != "orders":
        raise PipelineError("sample files are generated for the 'orders' dataset only")
    counts = write_orders(out, rows, seed=seed)
    views.console.print(f"wrote {out}: {counts}")


@click.command()
@click.option("--rows", default=100_000, show_default=True, help="Rows in the large (paged) sample file.")
@json_option
def demo(rows: int, as_json: bool) -> None:
    """Start the local cloud, deploy, drop sample files, wait, and query the result."""
    summary, result = ops.demo(
        resolve(None),
        rows,
        views.progress_printer(quiet=as_json),
        lambda outs, uploads: wait_showing_progress(outs, uploads, as_json),
    )
    views.show_demo(summary, result.columns, result.rows, as_json)
    if not summary["as_expected"]:
        sys.exit(Exit.ERROR)
