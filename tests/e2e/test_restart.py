"""Stopping and starting `pipeline local` in the middle of a large job loses nothing: the job resumes and reconciles.

Driven entirely through the CLI, on a local cloud of its own (the session's cloud keeps running).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.sample import write_orders
from tests.e2e.conftest import _free_port

pytestmark = pytest.mark.e2e

ROWS = int(os.environ.get("E2E_RESTART_ROWS", "1000000"))
STAGE = "restart"


def _cli(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("pipeline")), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _job(env: dict[str, str], key: str) -> dict[str, Any]:
    jobs = json.loads(_ok(_cli(env, "jobs", "--stage", STAGE, "--json")))
    return next((j for j in jobs if j.get("key") == key), {})


def _as_if_caught_mid_processing(env: dict[str, str], job_id: str) -> None:
    """Put a finished inline job back to PROCESSING, as if the local cloud had stopped during its invocation."""
    import boto3

    ddb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{env['PIPELINE_LOCAL_PORT']}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    ddb.update_item(
        TableName=f"pipeline-{STAGE}-jobs",
        Key={"job_id": {"S": job_id}, "item": {"S": "JOB"}},
        UpdateExpression="SET #s = :processing REMOVE finished_at, duration_s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":processing": {"S": "PROCESSING"}},
    )


@pytest.fixture(scope="module")
def private_cloud(tmp_path_factory: pytest.TempPathFactory) -> Any:
    state = tmp_path_factory.mktemp("restart-cloud")
    env = {
        **os.environ,
        "PIPELINE_STATE_DIR": str(state),
        "PIPELINE_LOCAL_PORT": str(_free_port()),
        "PIPELINE_LOCAL": "1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    yield env
    _cli(env, "local", "stop")


def test_a_restart_mid_job_resumes_the_job_and_loses_nothing(private_cloud: dict[str, str], tmp_path: Path) -> None:
    env = private_cloud
    _ok(_cli(env, "deploy", "--stage", STAGE))
    small = tmp_path / "small.csv"
    small_counts = write_orders(small, 2_000, seed=22, start_id=95_000_000)
    small_key = "orders/restart/small.csv"
    _ok(_cli(env, "ingest", str(small), "--dataset", "orders", "--key", small_key, "--stage", STAGE, "--wait"))
    orphan = _job(env, small_key)
    _as_if_caught_mid_processing(env, orphan["job_id"])

    path = tmp_path / "big.csv"
    counts = write_orders(path, ROWS, seed=21, start_id=90_000_000)
    key = "orders/restart/big.csv"
    _ok(_cli(env, "ingest", str(path), "--dataset", "orders", "--key", key, "--stage", STAGE))

    deadline = time.monotonic() + 600
    while int(_job(env, key).get("pages_done") or 0) < 3:
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(1)
    before = _job(env, key)
    assert before["status"] == "PAGING"

    _ok(_cli(env, "local", "stop"))
    started = _ok(_cli(env, "local", "start"))
    assert f"resumed interrupted job {before['job_id']}" in started, started
    assert f"resumed interrupted job {orphan['job_id']}" in started, started

    deadline = time.monotonic() + 900
    while (job := _job(env, key)).get("status") not in ("COMPLETE", "FAILED"):
        assert time.monotonic() < deadline, f"the job is stuck after the restart: {job}"
        time.sleep(2)
    assert job["status"] == "COMPLETE", job
    assert job["rows_input"] == ROWS
    assert job["rows_valid"] == counts["valid"] and job["rows_rejected"] == counts["invalid"]
    assert job["redrives"] == 1

    executions = json.loads(_ok(_cli(env, "executions", "--stage", STAGE, "--json")))
    statuses = {e["name"]: e["status"] for e in executions if e["job_id"] == job["job_id"]}
    assert statuses[f"{job['job_id']}-0"] == "FAILED"  # States.ServiceRestart: it was running at the stop
    assert "SUCCEEDED" in statuses.values(), statuses
    shown = json.loads(_ok(_cli(env, "executions", "--stage", STAGE, "show", f"{job['job_id']}-0", "--json")))
    assert "ServiceRestart" in json.dumps(shown)

    reconciled = json.loads(_ok(_cli(env, "reconcile", job["job_id"], "--stage", STAGE, "--json")))
    assert reconciled["ok"], reconciled

    redone = _job(env, small_key)  # the upload caught mid-processing was handed to the processor again
    assert redone["status"] == "COMPLETE" and redone["job_id"] == orphan["job_id"], redone
    assert redone["rows_valid"] == small_counts["valid"]
    assert json.loads(_ok(_cli(env, "reconcile", orphan["job_id"], "--stage", STAGE, "--json")))["ok"]
