"""What the CLI commands do, as plain functions (click only parses arguments and forwards here).

boto3, the job store and the deploy code are imported where used, deliberately: `pipeline --help` and every
command's start then load only click and rich.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.runtime.errors import PipelineError
from pipeline.tools.cli.target import Cloud

if TYPE_CHECKING:
    from pipeline.tools.local import LocalCloud
    from pipeline.tools.operate.reconcile import Reconciliation
    from pipeline.tools.operate.sweep import Stray
    from pipeline.tools.query import QueryResult

Progress = Callable[[str], None]
LocalProgress = Callable[[str, float], None]  # what the local cloud is doing, seconds since it began
JobUpdate = Callable[[list[dict[str, Any]]], None]


class NotDeployedError(PipelineError):
    """The stage has no stack yet."""


def local_cloud(cloud: Cloud) -> LocalCloud:
    """The local cloud serving ``cloud``, or an error saying the command is for the local cloud only."""
    if cloud.local is None:
        raise PipelineError(f"stage {cloud.stage} is on AWS: this command is for the embedded local cloud")
    return cloud.local


def start_local(cloud: Cloud, progress: Progress, waiting: LocalProgress | None = None) -> bool:
    """Start the local cloud if it is not running; say what it loaded, repair stacks whose resources are gone,
    then redrive the jobs its last stop (or crash) interrupted."""
    local = local_cloud(cloud)
    if not local.start(waiting):
        return False
    loaded = local.status().get("loaded") or {}
    saved = ""
    if loaded.get("bytes"):
        saved = (
            f"; loaded its saved state (generation {loaded.get('generation')}, "
            f"{loaded['bytes'] / 1e6:,.1f} MB) in {loaded.get('seconds', 0):.1f}s"
        )
    progress(f"local cloud started at {local.endpoint}{saved}")
    for note in loaded.get("notes") or []:
        progress(f"note: {note}")
    for service, why in (loaded.get("failed") or {}).items():
        progress(
            f"warning: the saved state of {service} could not be loaded ({why}); it starts empty, and generation "
            f"{loaded.get('generation')} is kept so that nothing is overwritten"
        )
    broken = _repair_stacks(cloud, progress, waiting)
    for outs in local_stacks():
        if outs.get("JobsTable") and f"pipeline-{outs.get('Stage', '')}" in broken:
            continue
        from pipeline.tools.operate.redrive import recover_interrupted

        for done in recover_interrupted(outs, nothing_running=True):
            progress(f"resumed interrupted job {done['job_id']} ({done['action']}: {done['detail']})")
        sweep_stage(outs, progress)
    return True


def sweep_stage(outs: dict[str, str], progress: Progress) -> None:
    """Hand every object version without a job, or with a stuck one, to processing again (`pipeline sweep`)."""
    from pipeline.tools.operate.sweep import sweep

    for stray in sweep(outs):
        progress(f"swept {stray.key} (version {stray.version_id}, {stray.reason}): {stray.action}")


def _repair_stacks(cloud: Cloud, progress: Progress, waiting: LocalProgress | None) -> set[str]:
    """Redeploy recorded stacks whose resources are missing; return the stacks left unrepaired."""
    from pipeline.tools.local import heal

    local = local_cloud(cloud)
    restart, broken = False, set()
    for name in heal.pipeline_stacks():
        health = heal.check(name)
        if not health.missing:
            continue
        progress(
            f"stack {name} is recorded but {len(health.missing)} of its {len(health.resources)} resources are "
            f"missing ({health.missing_summary()}): the local cloud's saved state was incomplete (a save cut "
            "short by a version of the local cloud before checkpoints, or a service whose state did not load)"
        )
        if not health.repairable:
            held = ", ".join(f"{t} ({n:,} items)" for t, n in health.table_items.items() if n)
            progress(
                f"not repaired: redeploying would delete what {held} still hold; to repair and lose that, run "
                f"`pipeline destroy --stage {health.stage} --force` then `pipeline deploy --local`"
            )
            broken.add(name)
            continue
        heal.redeploy(health, progress)
        progress(heal.lost_and_kept(health))
        restart |= any(health.bucket_objects.values())
    if restart:
        progress("restarting the local cloud so that the kept S3 objects are read back into the recreated buckets")
        local.stop(progress=waiting)
        local.start(waiting)
    return broken


def local_status(cloud: Cloud) -> dict[str, Any]:
    """The local cloud: running or not, its saved state, its size against this machine, and the stack outputs."""
    from pipeline.tools.local import capacity

    local = local_cloud(cloud)
    running = local.ready()
    status = local.status() if local.pid() else {}
    outs: dict[str, str] = {}
    items = 0
    if running:
        try:
            outs = outputs(cloud)
        except NotDeployedError:
            outs = {}
        items = dynamodb_items()
    checkpoint = status.get("checkpoint") or {}
    if not checkpoint:  # not running: the generation on disk
        from pipeline.tools.local.generations import GenerationStore
        from pipeline.tools.local.launcher import state_root

        saved = GenerationStore(state_root(local.state_dir)).current()
        with contextlib.suppress(PipelineError):
            checkpoint = {"generation": saved.number, "at": saved.manifest().created} if saved else {}
    measured = capacity.measure(local.pid(), items)
    warnings = [w for w in (measured.warning(),) if w]
    if status.get("last_error"):
        warnings.append(f"the last checkpoint failed: {status['last_error']}")
    return {
        "running": running,
        "endpoint": local.endpoint,
        "pid": local.pid(),
        "state_dir": str(local.state_dir),
        "stack": cloud.stack_name,
        "state": {
            "saved_generation": checkpoint.get("generation"),
            "saved_at": checkpoint.get("at"),
            "changes_since_saved": status.get("pending_changes"),
            "phase": status.get("phase"),
        },
        "capacity": {
            "server_resident_bytes": measured.resident,
            "dynamodb_items": items,
            "bytes_per_item": round(measured.bytes_per_item),
            "memory_available_bytes": measured.available,
            "more_rows_that_fit": measured.rows_that_fit(),
        },
        "warnings": warnings,
        "outputs": outs,
    }


def dynamodb_items() -> int:
    """DynamoDB items held by the (running) local cloud, over every table."""
    from pipeline.runtime import aws

    ddb = aws.client("dynamodb")
    names = [n for page in ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]]
    return sum(int(ddb.describe_table(TableName=n)["Table"].get("ItemCount", 0)) for n in names)


def capacity_warning(cloud: Cloud, path: Path, dataset: str) -> str | None:
    """A warning when uploading ``path`` would take the local cloud past a safe size (None on AWS, or if fine)."""
    if not cloud.local:
        return None
    from pipeline.runtime.contract import load_contract
    from pipeline.tools.local import capacity

    try:
        if not load_contract(dataset).store_in_dynamodb:
            return None
    except PipelineError:
        return None  # an unknown dataset: its job fails with its own message
    return capacity.measure(cloud.local.pid(), dynamodb_items()).warning(capacity.estimate_rows(path))


def local_stacks() -> list[dict[str, str]]:
    """Outputs of every pipeline stack deployed in the (running) local cloud."""
    from pipeline.runtime import aws
    from pipeline.tools.deploy import stack

    cfn = aws.client("cloudformation")
    found = []
    for page in cfn.get_paginator("list_stacks").paginate(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"]):
        for summary in page["StackSummaries"]:
            outs = stack.outputs(summary["StackName"])
            if "JobsTable" in outs and "StateMachineArn" in outs:
                found.append(outs)
    return found


def deploy(cloud: Cloud, parameters: dict[str, str], progress: Progress, evolution: Any = None) -> dict[str, str]:
    """Build the artefacts and deploy the stage's stack; return its outputs (``evolution``: see `deploy_stage`)."""
    from pipeline.tools.deploy import stack

    if cloud.local:
        progress(f"local cloud at {cloud.local.endpoint}")
        start_local(cloud, progress)
    return stack.deploy_stage(cloud.stage, parameters, progress, local=cloud.local is not None, evolution=evolution)


def outputs(cloud: Cloud) -> dict[str, str]:
    """The stage's stack outputs, or `NotDeployedError` telling how to deploy."""
    from pipeline.tools.deploy import stack

    if cloud.local and not cloud.local.running():
        raise NotDeployedError("the local cloud is not running: run `pipeline local start` or `pipeline demo`")
    outs = stack.outputs(cloud.stack_name)
    if not outs:
        hint = "pipeline deploy --local" if cloud.local else f"pipeline deploy --stage {cloud.stage}"
        raise NotDeployedError(f"stack {cloud.stack_name} is not deployed: run `{hint}`")
    if cloud.local:
        outs = {"Endpoint": cloud.local.endpoint, **outs}
    return outs


def ingest(path: Path, dataset: str, outs: dict[str, str], key: str | None = None) -> dict[str, str]:
    """Upload ``path`` under `<dataset>/` in the ingest bucket; return the key and version."""
    from pipeline.runtime import aws

    object_key = key or f"{dataset}/{path.name}"
    with path.open("rb") as body:
        response = aws.client("s3").put_object(Bucket=outs["IngestBucket"], Key=object_key, Body=body)
    return {"bucket": outs["IngestBucket"], "key": object_key, "version_id": response.get("VersionId", "")}


def resolve_job(outs: dict[str, str], prefix: str) -> dict[str, Any]:
    """The one job whose id starts with ``prefix`` (ids are long; users type a few characters)."""
    from pipeline.runtime.jobs import JobStore

    matches = [dict(j) for j in JobStore(outs["JobsTable"]).jobs() if j["job_id"].startswith(prefix)]
    if len(matches) != 1:
        raise PipelineError(f"{len(matches)} jobs match {prefix!r}")
    return matches[0]


def _match(jobs: list[dict[str, Any]], upload: dict[str, str]) -> dict[str, Any] | None:
    """The newest job of an upload: same key and, when the upload knows it, the same object version."""
    for job in jobs:  # newest first
        same_version = not upload.get("version_id") or job.get("version_id") in (upload["version_id"], None)
        if job.get("key") == upload["key"] and same_version:
            return job
    return None


def wait_for(
    outs: dict[str, str],
    uploads: list[dict[str, str]],
    on_update: JobUpdate,
    timeout: float = 3600,
) -> list[dict[str, Any]]:
    """Poll until every upload's job is finished; call ``on_update`` with the jobs each round."""
    from pipeline.runtime.jobs import JobStore
    from pipeline.runtime.jobs.model import FINISHED

    deadline = time.monotonic() + timeout
    store = JobStore(outs["JobsTable"])
    while True:
        current = [dict(j) for j in store.jobs()]
        jobs = [_match(current, u) or {"key": u["key"], "status": "WAITING"} for u in uploads]
        on_update(jobs)
        if all(j.get("status") in FINISHED for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise PipelineError(f"timed out after {timeout:.0f}s waiting for {len(uploads)} jobs")
        time.sleep(1.0)


# ------------------------------------------------------------------ jobs, executions, queries


def _shown(job: dict[str, Any]) -> dict[str, Any]:
    """A job as commands show it: without the Step Functions task token (a credential of the execution)."""
    return {k: v for k, v in job.items() if k != "task_token"}


def jobs(outs: dict[str, str]) -> list[dict[str, Any]]:
    """Every job, newest first."""
    from pipeline.runtime.jobs import JobStore

    return [_shown(dict(j)) for j in JobStore(outs["JobsTable"]).jobs()]


def job_detail(outs: dict[str, str], prefix: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The job whose id starts with ``prefix``, and its pages."""
    from pipeline.runtime.jobs import JobStore

    job = _shown(resolve_job(outs, prefix))
    return job, [dict(p) for p in JobStore(outs["JobsTable"]).pages(job["job_id"])]


def job_status(outs: dict[str, str], job_id: str) -> str:
    """The job's status now."""
    from pipeline.runtime.jobs import JobStore

    job = JobStore(outs["JobsTable"]).get(job_id)
    return str((job or {}).get("status", ""))


def uploads_of(outs: dict[str, str], job_ids: list[str]) -> list[dict[str, str]]:
    """The uploads (key and version) of these jobs, to wait for with `wait_for`."""
    from pipeline.runtime.jobs import JobStore

    by_id = {j["job_id"]: j for j in JobStore(outs["JobsTable"]).jobs()}
    return [{"key": by_id[i]["key"], "version_id": by_id[i].get("version_id") or ""} for i in job_ids]


def executions(outs: dict[str, str]) -> list[dict[str, Any]]:
    """The state machine's executions with their job, file and page progress."""
    from pipeline.runtime.jobs import JobStore
    from pipeline.tools.operate.executions import list_executions

    jobs_by_id = {j["job_id"]: j for j in JobStore(outs["JobsTable"]).jobs()}
    return list_executions(outs["StateMachineArn"], jobs_by_id)


def execution_timeline(outs: dict[str, str], name: str) -> dict[str, Any]:
    """One execution state by state."""
    from pipeline.runtime.messages import execution_arn
    from pipeline.tools.operate.executions import timeline

    return timeline(execution_arn(outs["StateMachineArn"], name))


def query(outs: dict[str, str], sql: str, parameters: dict[str, str] | None) -> QueryResult:
    """Run ``sql`` through Athena against the stage's Glue database."""
    from pipeline.tools.query import run_query

    return run_query(
        sql,
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
        parameters=parameters or None,
    )


def reconcile(outs: dict[str, str], prefix: str) -> tuple[dict[str, Any], Reconciliation]:
    """The job whose id starts with ``prefix``, checked to the row."""
    from pipeline.tools.operate.reconcile import reconcile as run_reconcile

    job = resolve_job(outs, prefix)
    return job, run_reconcile(job["job_id"], outs["JobsTable"], outs["RecordsTable"], outs["ResultsBucket"])


def redrive(outs: dict[str, str], prefix: str | None, repage: bool) -> list[dict[str, Any]]:
    """Redrive the job whose id starts with ``prefix``, or (None) every interrupted job; what was done."""
    from pipeline.tools.operate.redrive import recover_interrupted
    from pipeline.tools.operate.redrive import redrive as run_redrive

    if prefix:
        return [run_redrive(outs, resolve_job(outs, prefix)["job_id"], repage=repage)]
    return recover_interrupted(outs)


def sweep(
    outs: dict[str, str], dataset: str | None, since: str | None, older_than: float, dry_run: bool
) -> list[Stray]:
    """Hand every object version without a job, or with a stuck one, to processing again."""
    from pipeline.tools.operate.sweep import parse_since
    from pipeline.tools.operate.sweep import sweep as run_sweep

    return run_sweep(
        outs, dataset=dataset, since=parse_since(since) if since else None, older_than=older_than, dry_run=dry_run
    )


# ------------------------------------------------------------------ demo

DEMO_SQL = (
    "SELECT dt, count(*) AS orders, round(sum(amount), 2) AS revenue FROM orders GROUP BY dt ORDER BY dt DESC LIMIT 5"
)
DEMO_EXPECTED = {"orders": "COMPLETE", "customers": "FAILED"}  # the demo's unknown dataset fails, as it should
Waiter = Callable[[dict[str, str], list[dict[str, str]]], list[dict[str, Any]]]


def demo(cloud: Cloud, rows: int, progress: Progress, wait: Waiter) -> tuple[dict[str, Any], QueryResult]:
    """Deploy into the local cloud, drop a small, a large (``rows``) and a bad file, ``wait`` for their jobs and
    query the result: the jobs, whether each ended as expected, Athena's count, the seconds taken; and the query."""
    from pipeline.tools.sample import write_orders

    started = time.monotonic()
    deploy(cloud, {}, progress)
    outs = outputs(cloud)
    uploads = []
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "orders-small.csv", Path(tmp) / "orders-large.csv"
        write_orders(small, 5_000, seed=1, start_id=1)
        write_orders(large, rows, seed=2, start_id=10_000_000)
        bad = Path(tmp) / "unknown.csv"
        bad.write_text("a,b\n1,2\n")
        stamp = time.strftime("%Y%m%dT%H%M%S")
        uploads.append(ingest(small, "orders", outs, f"orders/demo-{stamp}/orders-small.csv"))
        uploads.append(ingest(large, "orders", outs, f"orders/demo-{stamp}/orders-large.csv"))
        uploads.append(ingest(bad, "customers", outs, f"customers/demo-{stamp}/unknown.csv"))
        progress(f"uploaded {len(uploads)} files to s3://{outs['IngestBucket']}/")
        jobs_done = wait(outs, uploads)
    result = query(outs, DEMO_SQL, None)
    total = query(outs, "SELECT count(*) AS n FROM orders", None)
    as_expected = all(j.get("status") == DEMO_EXPECTED[j.get("key", "").split("/")[0]] for j in jobs_done)
    summary = {
        "jobs": jobs_done,
        "athena_rows": total.rows[0][0],
        "seconds": round(time.monotonic() - started, 1),
        "as_expected": as_expected,
    }
    return summary, result
