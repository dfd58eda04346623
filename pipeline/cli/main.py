"""`pipeline`: run the CSV pipeline on the embedded local cloud or on AWS."""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from pipeline.cli import local_cmd, logs_cmd, ops
from pipeline.cli.errors import ErrorBoundary
from pipeline.cli.exits import Exit
from pipeline.cli.target import resolve
from pipeline.cli.views import console, emit_json, err, jobs_table, mapping_table, rows_table
from pipeline.errors import PipelineError

STAGE = click.option("--stage", default=None, help="AWS stage to use; omit for the embedded local cloud.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(cls=ErrorBoundary)
@click.version_option(package_name="s3-csv-pipeline")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an error (also PIPELINE_DEBUG=1).")
def cli(debug: bool) -> None:
    """Drop CSV files in, get validated data out: S3 -> SNS -> Lambda -> DynamoDB + S3 -> Athena."""


cli.add_command(local_cmd.local)
cli.add_command(logs_cmd.logs)


# ------------------------------------------------------------------ deploy
@cli.command()
@STAGE
@click.option("--local", "use_local", is_flag=True, help="Deploy into the embedded local cloud.")
@click.option("--region", default=None)
@click.option("--profile", default=None)
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
@JSON
def deploy(
    stage: str | None,
    use_local: bool,
    region: str | None,
    profile: str | None,
    parameter: tuple[str, ...],
    allow_stricter: tuple[str, ...],
    archive_output: tuple[str, ...],
    as_json: bool,
) -> None:
    """Package the code and deploy the stack (change set, progress, outputs).

    Contract changes are compared with the stage first: safe ones are applied, stricter and unsafe ones refused
    unless allowed (see docs/bring-your-own-data.md).
    """
    from pipeline.deploy.parameters import parse_overrides
    from pipeline.schema.evolve import Evolution

    params = parse_overrides(parameter)
    cloud = resolve(stage, region, profile, local=use_local)
    evolution = Evolution(frozenset(allow_stricter), frozenset(archive_output))
    outs = ops.deploy(cloud, params, lambda line: err.print(line), evolution)
    if as_json:
        emit_json(outs)
    else:
        console.print(mapping_table(outs, f"Stack {cloud.stack_name}"))


@cli.command()
@STAGE
@JSON
def outputs(stage: str | None, as_json: bool) -> None:
    """Show the endpoint, buckets, tables, Glue database and Athena workgroup of a stage."""
    outs = ops.outputs(resolve(stage))
    if as_json:
        emit_json(outs)
    else:
        console.print(mapping_table(outs, "Stack outputs"))


# ------------------------------------------------------------------ data
def _show_progress(jobs: list[dict[str, Any]], started: float, status: Any) -> None:
    done = sum(int(j.get("pages_done") or 0) for j in jobs)
    total = sum(int(j.get("pages_total") or j.get("pages_published") or 0) for j in jobs)
    rows = sum(int(j.get("rows_input") or 0) for j in jobs)
    elapsed = max(time.monotonic() - started, 1e-6)
    states = ", ".join(sorted({str(j.get("status")) for j in jobs}))
    status.update(
        f"{len(jobs)} job(s) [{states}] pages {done}/{total or '?'}, {rows:,} rows, "
        f"{rows / elapsed:,.0f} rows/s, {elapsed:.0f}s"
    )


def _wait(
    outs: dict[str, str], uploads: list[dict[str, str]], as_json: bool, timeout: float = 3600
) -> list[dict[str, Any]]:
    started = time.monotonic()
    if as_json:
        return ops.wait_for(outs, uploads, lambda jobs: None, timeout)
    with console.status("waiting for jobs...") as status:
        return ops.wait_for(outs, uploads, lambda jobs: _show_progress(jobs, started, status), timeout)


@cli.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="Dataset (schema) the file belongs to.")
@click.option("--key", default=None, help="Object key (default <dataset>/<file name>).")
@click.option("--wait", is_flag=True, help="Wait for the job to finish, showing progress.")
@STAGE
@JSON
def ingest(path: Path, dataset: str, key: str | None, wait: bool, stage: str | None, as_json: bool) -> None:
    """Upload a CSV file into the ingest bucket under <dataset>/."""
    cloud = resolve(stage)
    outs = ops.outputs(cloud)
    if warning := ops.capacity_warning(cloud, path, dataset):
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    upload = ops.ingest(path, dataset, outs, key)
    if not wait:
        emit_json(upload) if as_json else console.print(f"uploaded s3://{upload['bucket']}/{upload['key']}")
        return
    jobs = _wait(outs, [upload], as_json)
    emit_json(jobs[0]) if as_json else console.print(jobs_table(jobs))
    if jobs[0].get("status") != "COMPLETE":
        sys.exit(Exit.NOT_COMPLETE)


@cli.group(invoke_without_command=True)
@STAGE
@JSON
@click.pass_context
def jobs(ctx: click.Context, stage: str | None, as_json: bool) -> None:
    """List jobs, newest first."""
    ctx.ensure_object(dict)
    ctx.obj["stage"] = stage
    if ctx.invoked_subcommand:
        return
    from pipeline.jobs import JobStore

    outs = ops.outputs(resolve(stage))
    items = [{k: v for k, v in j.items() if k != "task_token"} for j in JobStore(outs["JobsTable"]).jobs()]
    emit_json(items) if as_json else console.print(jobs_table(items))


@jobs.command("show")
@click.argument("job_id")
@JSON
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Show one job with its pages, counts, outputs, rejects and execution."""
    from pipeline.jobs import JobStore

    outs = ops.outputs(resolve(ctx.obj.get("stage")))
    store = JobStore(outs["JobsTable"])
    job = {k: v for k, v in ops.resolve_job(outs, job_id).items() if k != "task_token"}
    pages = store.pages(job["job_id"])
    if as_json:
        emit_json({**job, "pages": pages})
        return
    shown = {k: v for k, v in job.items() if k != "cursor"} | {"executions": sorted(job.get("executions") or [])}
    console.print(mapping_table(shown, f"Job {job['job_id']}"))
    table = rows_table(
        ["page", "status", "lines from", "rows in", "valid", "rejected", "rejects", "error"],
        [
            (
                p.get("page"),
                p.get("status"),
                p.get("first_line", ""),
                p.get("rows_input"),
                p.get("rows_valid"),
                p.get("rows_rejected"),
                p.get("rejects_key") or "",
                (p.get("last_error") or "")[:60],
            )
            for p in pages[:50]
        ],
        f"Pages ({len(pages)})",
    )
    console.print(table)


@jobs.command("wait")
@click.argument("job_ids", nargs=-1, required=True, metavar="JOB_ID...")
@click.option("--timeout", type=click.FloatRange(min=0), default=3600, show_default=True, help="Seconds to wait.")
@JSON
@click.pass_context
def jobs_wait(ctx: click.Context, job_ids: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Wait until the jobs are finished; exit 3 unless every one is COMPLETE."""
    outs = ops.outputs(resolve(ctx.obj.get("stage")))
    found = [ops.resolve_job(outs, job_id) for job_id in job_ids]
    uploads = [{"key": j["key"], "version_id": j.get("version_id") or ""} for j in found]
    jobs = _wait(outs, uploads, as_json, timeout)
    emit_json(jobs) if as_json else console.print(jobs_table(jobs))
    if any(j.get("status") != "COMPLETE" for j in jobs):
        sys.exit(Exit.NOT_COMPLETE)


@cli.command()
@click.argument("sql")
@click.option(
    "--param",
    "-p",
    multiple=True,
    help="NAME=VALUE for %(NAME)s in the SQL, pasted in as a quoted string literal (write a literal % as %%).",
)
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@STAGE
@JSON
def query(sql: str, param: tuple[str, ...], as_csv: bool, stage: str | None, as_json: bool) -> None:
    """Run SQL through Athena against the stage's Glue database."""
    from pipeline.query import parse_parameters, run_query

    parameters = parse_parameters(param)
    outs = ops.outputs(resolve(stage))
    result = run_query(
        sql,
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
        parameters=parameters or None,
    )
    if as_json:
        emit_json([dict(zip(result.columns, row, strict=True)) for row in result.rows])
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        console.print(rows_table(result.columns, result.rows))


@cli.command()
@click.argument("dataset", default="orders")
@click.option("--rows", default=10_000, show_default=True)
@click.option("--seed", default=7, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def sample(dataset: str, rows: int, seed: int, out: Path) -> None:
    """Write a realistic sample CSV for a shipped dataset."""
    from pipeline.sample import write_orders

    if dataset != "orders":
        raise PipelineError("sample files are generated for the 'orders' dataset only")
    counts = write_orders(out, rows, seed=seed)
    console.print(f"wrote {out}: {counts}")


@cli.command()
@click.option("--rows", default=100_000, show_default=True, help="Rows in the large (paged) sample file.")
@JSON
def demo(rows: int, as_json: bool) -> None:
    """Start the local cloud, deploy, drop sample files, wait, and query the result."""
    from pipeline.query import run_query
    from pipeline.sample import write_orders

    started = time.monotonic()
    cloud = resolve(None)
    progress = (lambda line: None) if as_json else (lambda line: err.print(line))
    outs = ops.deploy(cloud, {}, progress)
    outs = ops.outputs(cloud)
    uploads = []
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "orders-small.csv", Path(tmp) / "orders-large.csv"
        write_orders(small, 5_000, seed=1, start_id=1)
        write_orders(large, rows, seed=2, start_id=10_000_000)
        bad = Path(tmp) / "unknown.csv"
        bad.write_text("a,b\n1,2\n")
        stamp = time.strftime("%Y%m%dT%H%M%S")
        uploads.append(ops.ingest(small, "orders", outs, f"orders/demo-{stamp}/orders-small.csv"))
        uploads.append(ops.ingest(large, "orders", outs, f"orders/demo-{stamp}/orders-large.csv"))
        uploads.append(ops.ingest(bad, "customers", outs, f"customers/demo-{stamp}/unknown.csv"))
        progress(f"uploaded {len(uploads)} files to s3://{outs['IngestBucket']}/")
        jobs_done = _wait(outs, uploads, as_json)
    result = run_query(
        "SELECT dt, count(*) AS orders, round(sum(amount), 2) AS revenue FROM orders "
        "GROUP BY dt ORDER BY dt DESC LIMIT 5",
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
    )
    total = run_query(
        "SELECT count(*) AS n FROM orders",
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
    )
    elapsed = time.monotonic() - started
    if as_json:
        emit_json(
            {
                "jobs": jobs_done,
                "query": [dict(zip(result.columns, r, strict=True)) for r in result.rows],
                "athena_rows": total.rows[0][0],
                "seconds": round(elapsed, 1),
            }
        )
    else:
        console.print(jobs_table(jobs_done))
        console.print(rows_table(result.columns, result.rows, "Athena: latest days of orders"))
        console.print(f"Athena count(*) over orders: {total.rows[0][0]:,}; demo took {elapsed:.1f}s")
    expected = {"orders": "COMPLETE", "customers": "FAILED"}
    if any(j.get("status") != expected[j.get("key", "").split("/")[0]] for j in jobs_done):
        sys.exit(1)


@cli.group(invoke_without_command=True)
@STAGE
@JSON
@click.pass_context
def executions(ctx: click.Context, stage: str | None, as_json: bool) -> None:
    """List state machine executions with their job, file and page progress."""
    ctx.ensure_object(dict)
    ctx.obj["stage"] = stage
    if ctx.invoked_subcommand:
        return
    from pipeline.jobs import JobStore
    from pipeline.jobs.executions import list_executions

    outs = ops.outputs(resolve(stage))
    jobs_by_id = {j["job_id"]: j for j in JobStore(outs["JobsTable"]).jobs()}
    items = list_executions(outs["StateMachineArn"], jobs_by_id)
    if as_json:
        emit_json(items)
        return
    console.print(
        rows_table(
            ["name", "status", "file", "start", "duration", "pages"],
            [
                (
                    e["name"],
                    e["status"],
                    e["file"].rsplit("/", 1)[-1],
                    e["start"][:19],
                    f"{e['duration_s']:.1f}s" if e["duration_s"] is not None else "running",
                    f"{e['pages_done'] or 0}/{e['pages_total'] or '?'}",
                )
                for e in items
            ],
            "Executions",
        )
    )


@executions.command("show")
@click.argument("name")
@JSON
@click.pass_context
def executions_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show one execution state by state: input, output, duration, error (the paging loop summarised)."""
    from pipeline.jobs.executions import timeline

    outs = ops.outputs(resolve(ctx.obj.get("stage")))
    arn = outs["StateMachineArn"].replace(":stateMachine:", ":execution:") + f":{name}"
    data = timeline(arn)
    if as_json:
        emit_json(data)
        return
    console.print(f"[bold]{data['name']}[/] {data['status']} ({data['events']} history events)")
    if data.get("error"):
        console.print(f"[red]{data['error']}[/]: {data.get('cause')}")
    console.print(
        rows_table(
            ["state", "status", "duration", "detail"],
            [
                (
                    s["state"],
                    s["status"],
                    f"{s.get('duration_s') or 0:.2f}s",
                    f"{s['iterations']} iterations"
                    if "iterations" in s
                    else (s.get("error") or "") + (f" {str(s.get('output'))[:80]}" if s.get("output") else ""),
                )
                for s in data["states"]
            ],
        )
    )


@cli.command()
@click.argument("job_id")
@STAGE
@JSON
def reconcile(job_id: str, stage: str | None, as_json: bool) -> None:
    """Check a job to the row; exit 4 with the differences when a COMPLETE job's stores disagree, 1 when the job
    has nothing to compare yet (not COMPLETE)."""
    from pipeline.jobs.reconcile import reconcile as run_reconcile

    outs = ops.outputs(resolve(stage))
    job = ops.resolve_job(outs, job_id)
    result = run_reconcile(job["job_id"], outs["JobsTable"], outs["RecordsTable"], outs["ResultsBucket"])
    if as_json:
        emit_json({"job_id": result.job_id, "ok": result.ok, "counts": result.counts, "problems": result.problems})
    else:
        if result.counts:  # none when the job has nothing to compare yet
            console.print(mapping_table(result.counts, f"Reconciliation of {result.job_id}"))
        for problem in result.problems:
            console.print(f"[red]✗[/] {problem}")
        if result.ok:
            console.print("[green]✓ reconciled[/]")
    if not result.ok:  # a finished job whose stores disagree, or a job with nothing to compare yet (an error)
        sys.exit(Exit.DISAGREES if job.get("status") == "COMPLETE" else Exit.ERROR)


@cli.command()
@click.argument("job_id", required=False)
@click.option("--repage", is_flag=True, help="Page the whole file again (pages already DONE are skipped).")
@click.option(
    "--interrupted",
    is_flag=True,
    help="Redrive every job whose execution ended without finishing it, or whose inline processor was killed.",
)
@click.option("--wait", is_flag=True, help="Wait for the redriven jobs to finish, showing progress.")
@STAGE
@JSON
def redrive(job_id: str | None, repage: bool, interrupted: bool, wait: bool, stage: str | None, as_json: bool) -> None:
    """Reprocess what a FAILED or interrupted job did not finish: its failed pages, then the rest of the file."""
    from pipeline.jobs.redrive import recover_interrupted
    from pipeline.jobs.redrive import redrive as run_redrive

    if bool(job_id) == interrupted:
        raise click.UsageError("give either a JOB_ID or --interrupted")
    outs = ops.outputs(resolve(stage))
    if job_id:
        actions = [run_redrive(outs, ops.resolve_job(outs, job_id)["job_id"], repage=repage)]
    else:
        actions = recover_interrupted(outs)
    jobs = []
    if wait and actions:
        store_jobs = {j["job_id"]: j for j in ops.JobStore(outs["JobsTable"]).jobs()}
        uploads = [
            {"key": store_jobs[a["job_id"]]["key"], "version_id": store_jobs[a["job_id"]].get("version_id") or ""}
            for a in actions
        ]
        jobs = _wait(outs, uploads, as_json)
    if as_json:
        emit_json({"redriven": actions, "jobs": jobs})
    else:
        if not actions:
            console.print("nothing to redrive")
        for action in actions:
            console.print(f"{action['job_id']}: {action['action']} — {action['detail']}")
        if jobs:
            console.print(jobs_table(jobs))
    if jobs and any(j.get("status") != "COMPLETE" for j in jobs):
        sys.exit(Exit.NOT_COMPLETE)


@cli.command("sweep")
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
@click.option("--wait", is_flag=True, help="Wait for the swept jobs to finish, showing progress.")
@STAGE
@JSON
def sweep_command(
    dataset: str | None,
    since: str | None,
    older_than: float,
    dry_run: bool,
    wait: bool,
    stage: str | None,
    as_json: bool,
) -> None:
    """Hand every object version without a job, or with a stuck job, to processing again (idempotent)."""
    from pipeline.jobs.sweep import parse_since, sweep

    outs = ops.outputs(resolve(stage))
    strays = sweep(
        outs, dataset=dataset, since=parse_since(since) if since else None, older_than=older_than, dry_run=dry_run
    )
    jobs = []
    if wait and strays and not dry_run:
        jobs = _wait(outs, [{"key": s.key, "version_id": s.version_id} for s in strays], as_json)
    if as_json:
        emit_json({"swept": [s.as_dict() for s in strays], "jobs": jobs})
    else:
        if not strays:
            console.print("nothing to sweep: every object version has a job that is finished or moving")
        else:
            console.print(
                rows_table(
                    ["job", "key", "version", "found", "last activity", "action"],
                    [(s.job_id[:12], s.key, s.version_id, s.reason, s.last_activity, s.action) for s in strays],
                    f"Swept ({len(strays)})",
                )
            )
        if jobs:
            console.print(jobs_table(jobs))
    if jobs and any(j.get("status") != "COMPLETE" for j in jobs):
        sys.exit(Exit.NOT_COMPLETE)


from pipeline.cli import ship  # noqa: E402

cli.add_command(ship.package_command)
cli.add_command(ship.destroy)
cli.add_command(ship.bootstrap)


@cli.group()
def statemachine() -> None:
    """Author the state machine in Python with the `stepfunctions` SDK (`pip install -e '.[sdk]'`)."""


@statemachine.command("render")
@click.option("--check", is_flag=True, help="Only check that the committed ASL matches; exit 1 if it drifted.")
def statemachine_render(check: bool) -> None:
    """Render statemachines/batch.asl.json from pipeline/authoring/batch.py."""
    try:
        from pipeline.authoring import batch
    except ImportError as exc:
        raise PipelineError(f"the stepfunctions SDK is not installed ({exc}): pip install -e '.[sdk]'") from exc
    import json as json_module

    if check:
        same = batch.render() == json_module.loads(batch.ASL_PATH.read_text())
        console.print("[green]✓ in step[/]" if same else f"[red]✗ {batch.ASL_PATH.name} drifted from the authoring[/]")
        sys.exit(0 if same else 1)
    console.print(f"wrote {batch.write()}")


from pipeline.cli import bench_cmd  # noqa: E402

cli.add_command(bench_cmd.bench)
cli.add_command(bench_cmd.cost)

from pipeline.console.command import console_command  # noqa: E402

cli.add_command(console_command)

from pipeline.cli.schema_cmd import schema  # noqa: E402

cli.add_command(schema)
