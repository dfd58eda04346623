"""What the CLI commands do, as plain functions (click only parses arguments and forwards here)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline.cli.target import Cloud
from pipeline.runtime import aws
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.jobs.model import FINISHED
from pipeline.tools.deploy import stack

Progress = Callable[[str], None]
LocalProgress = Callable[[str, float], None]  # what the local cloud is doing, seconds since it began


class NotDeployedError(PipelineError):
    """The stage has no stack yet."""


def start_local(cloud: Cloud, progress: Progress, waiting: LocalProgress | None = None) -> bool:
    """Start the local cloud if it is not running; say what it loaded, repair stacks whose resources are gone,
    then redrive the jobs its last stop (or crash) interrupted."""
    assert cloud.local
    if not cloud.local.start(waiting):
        return False
    loaded = cloud.local.status().get("loaded") or {}
    saved = ""
    if loaded.get("bytes"):
        saved = (
            f"; loaded its saved state (generation {loaded.get('generation')}, "
            f"{loaded['bytes'] / 1e6:,.1f} MB) in {loaded.get('seconds', 0):.1f}s"
        )
    progress(f"local cloud started at {cloud.local.endpoint}{saved}")
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

    assert cloud.local
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
        cloud.local.stop(progress=waiting)
        cloud.local.start(waiting)
    return broken


def local_status(cloud: Cloud) -> dict[str, Any]:
    """The local cloud: running or not, its saved state, its size against this machine, and the stack outputs."""
    from pipeline.tools.local import capacity

    assert cloud.local
    running = cloud.local.ready()
    status = cloud.local.status() if cloud.local.pid() else {}
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

        saved = GenerationStore(state_root(cloud.local.state_dir)).current()
        with contextlib.suppress(PipelineError):
            checkpoint = {"generation": saved.number, "at": saved.manifest().created} if saved else {}
    measured = capacity.measure(cloud.local.pid(), items)
    warnings = [w for w in (measured.warning(),) if w]
    if status.get("last_error"):
        warnings.append(f"the last checkpoint failed: {status['last_error']}")
    return {
        "running": running,
        "endpoint": cloud.local.endpoint,
        "pid": cloud.local.pid(),
        "state_dir": str(cloud.local.state_dir),
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
    if cloud.local:
        progress(f"local cloud at {cloud.local.endpoint}")
        start_local(cloud, progress)
    return stack.deploy_stage(cloud.stage, parameters, progress, local=cloud.local is not None, evolution=evolution)


def outputs(cloud: Cloud) -> dict[str, str]:
    """The stage's stack outputs, or `NotDeployedError` telling how to deploy."""
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
    object_key = key or f"{dataset}/{path.name}"
    with path.open("rb") as body:
        response = aws.client("s3").put_object(Bucket=outs["IngestBucket"], Key=object_key, Body=body)
    return {"bucket": outs["IngestBucket"], "key": object_key, "version_id": response.get("VersionId", "")}


def resolve_job(outs: dict[str, str], prefix: str) -> dict[str, Any]:
    """The one job whose id starts with ``prefix`` (ids are long; users type a few characters)."""
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
    on_update: Callable[[list[dict[str, Any]]], None],
    timeout: float = 3600,
) -> list[dict[str, Any]]:
    """Poll until every upload's job is finished; call ``on_update`` with the jobs each round."""
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
