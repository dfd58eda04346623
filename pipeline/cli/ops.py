"""What the CLI commands do, as plain functions (click only parses arguments and forwards here)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline import aws
from pipeline.cli.target import Cloud
from pipeline.deploy import stack
from pipeline.errors import PipelineError
from pipeline.jobs import JobStore
from pipeline.jobs.model import FINISHED

Progress = Callable[[str], None]


class NotDeployedError(PipelineError):
    """The stage has no stack yet."""


def start_local(cloud: Cloud, progress: Progress) -> bool:
    """Start the local cloud if it is not running, then redrive the jobs its last stop interrupted."""
    assert cloud.local
    if not cloud.local.start():
        return False
    progress(f"local cloud started at {cloud.local.endpoint}")
    for outs in local_stacks():
        from pipeline.jobs.redrive import recover_interrupted

        for done in recover_interrupted(outs, nothing_running=True):
            progress(f"resumed interrupted job {done['job_id']} ({done['action']}: {done['detail']})")
        sweep_stage(outs, progress)
    return True


def sweep_stage(outs: dict[str, str], progress: Progress) -> None:
    """Hand every object version without a job, or with a stuck one, to processing again (`pipeline sweep`)."""
    from pipeline.jobs.sweep import sweep

    for stray in sweep(outs):
        progress(f"swept {stray.key} (version {stray.version_id}, {stray.reason}): {stray.action}")


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
    matches = [j for j in JobStore(outs["JobsTable"]).jobs() if j["job_id"].startswith(prefix)]
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
        current = store.jobs()
        jobs = [_match(current, u) or {"key": u["key"], "status": "WAITING"} for u in uploads]
        on_update(jobs)
        if all(j.get("status") in FINISHED for j in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise PipelineError(f"timed out after {timeout:.0f}s waiting for {len(uploads)} jobs")
        time.sleep(1.0)
