"""Stopping, starting and killing `pipeline local` loses nothing, at a million rows and more.

1. A stop in the middle of a large job: the job resumes after the start and reconciles.
2. That job, once COMPLETE, survives `kill -9` of the emulator and then a stop and a start: the job, `pipeline
   reconcile`, the DynamoDB item count and the Athena count are checked after each (the counts against what the
   sample generator wrote, through plain boto3 and pyathena).

Driven through the CLI, on a local cloud of its own (the session's cloud keeps running).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.tools.sample import write_orders
from tests.e2e.conftest import _free_port, athena_count, cli_ok, run_cli

# A million rows and more: minutes on a quiet 2-core machine, many more under load (pyproject's default is 900 s)
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]

ROWS = int(os.environ.get("E2E_RESTART_ROWS", "1200000"))
STAGE = "restart"
BIG_KEY = "orders/restart/big.csv"
BIG_FIRST_ID = 90_000_000
COMPLETED: dict[str, Any] = {}  # the big job of the first test, COMPLETE, for the second



def _job(env: dict[str, str], key: str) -> dict[str, Any]:
    jobs = json.loads(cli_ok(run_cli(env, "jobs", "--stage", STAGE, "--json")))
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
    run_cli(env, "local", "stop")


def test_a_restart_mid_job_resumes_the_job_and_loses_nothing(private_cloud: dict[str, str], tmp_path: Path) -> None:
    env = private_cloud
    cli_ok(run_cli(env, "deploy", "--stage", STAGE))
    small = tmp_path / "small.csv"
    small_counts = write_orders(small, 2_000, seed=22, start_id=95_000_000)
    small_key = "orders/restart/small.csv"
    cli_ok(run_cli(env, "ingest", str(small), "--dataset", "orders", "--key", small_key, "--stage", STAGE, "--wait"))
    orphan = _job(env, small_key)
    _as_if_caught_mid_processing(env, orphan["job_id"])

    path = tmp_path / "big.csv"
    counts = write_orders(path, ROWS, seed=21, start_id=BIG_FIRST_ID)
    key = BIG_KEY
    cli_ok(run_cli(env, "ingest", str(path), "--dataset", "orders", "--key", key, "--stage", STAGE))

    deadline = time.monotonic() + 600
    while int(_job(env, key).get("pages_done") or 0) < 3:
        assert time.monotonic() < deadline, "the job never got going"
        time.sleep(1)
    before = _job(env, key)
    assert before["status"] == "PAGING"

    cli_ok(run_cli(env, "local", "stop"))
    started = cli_ok(run_cli(env, "local", "start"))
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

    executions = json.loads(cli_ok(run_cli(env, "executions", "--stage", STAGE, "--json")))
    statuses = {e["name"]: e["status"] for e in executions if e["job_id"] == job["job_id"]}
    assert statuses[f"{job['job_id']}-0"] == "FAILED"  # States.ServiceRestart: it was running at the stop
    assert "SUCCEEDED" in statuses.values(), statuses
    shown = json.loads(cli_ok(run_cli(env, "executions", "--stage", STAGE, "show", f"{job['job_id']}-0", "--json")))
    assert "ServiceRestart" in json.dumps(shown)

    reconciled = json.loads(cli_ok(run_cli(env, "reconcile", job["job_id"], "--stage", STAGE, "--json")))
    assert reconciled["ok"], reconciled

    redone = _job(env, small_key)  # the upload caught mid-processing was handed to the processor again
    assert redone["status"] == "COMPLETE" and redone["job_id"] == orphan["job_id"], redone
    assert redone["rows_valid"] == small_counts["valid"]
    assert json.loads(cli_ok(run_cli(env, "reconcile", orphan["job_id"], "--stage", STAGE, "--json")))["ok"]
    COMPLETED.update(job=job, counts=counts, small=small_counts)


# ------------------------------------------------------------------ crash and restart of a completed job
def _clients(env: dict[str, str]) -> dict[str, Any]:
    import boto3

    kwargs = {
        "endpoint_url": f"http://127.0.0.1:{env['PIPELINE_LOCAL_PORT']}",
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
    return {name: boto3.client(name, **kwargs) for name in ("dynamodb",)}


def _status(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(cli_ok(run_cli(env, "local", "status", "--json")))


def _wait_saved(env: dict[str, str], after: str) -> dict[str, Any]:
    """Wait until a checkpoint newer than ``after`` (ISO time) holds every change the cloud has seen."""
    deadline = time.monotonic() + 600
    while True:
        state = _status(env)["state"]
        if (state.get("saved_at") or "") >= after[:19] and state.get("changes_since_saved") == 0:
            return state
        assert time.monotonic() < deadline, f"no checkpoint covered the completed job: {state}"
        time.sleep(1)


def _check_everything(env: dict[str, str], job_id: str, counts: dict[str, int], expected_items: int) -> None:
    """The job, `pipeline reconcile`, the DynamoDB item count and the Athena count, after a restart."""
    job = next(j for j in json.loads(cli_ok(run_cli(env, "jobs", "--stage", STAGE, "--json"))) if j["job_id"] == job_id)
    assert job["status"] == "COMPLETE", job
    assert (job["rows_input"], job["rows_valid"], job["rows_rejected"]) == (ROWS, counts["valid"], counts["invalid"])
    reconciled = json.loads(cli_ok(run_cli(env, "reconcile", job_id, "--stage", STAGE, "--json")))
    assert reconciled["ok"] and reconciled["counts"]["dynamodb_missing"] == 0, reconciled
    table = _clients(env)["dynamodb"].describe_table(TableName=f"pipeline-{STAGE}-records")["Table"]
    assert table["ItemCount"] == expected_items
    stack = json.loads(cli_ok(run_cli(env, "outputs", "--stage", STAGE, "--json")))
    last = f"ORD-{BIG_FIRST_ID + ROWS - 1:08d}"
    where = "order_id BETWEEN %(lo)s AND %(hi)s"
    assert athena_count(stack, where, {"lo": f"ORD-{BIG_FIRST_ID:08d}", "hi": last}) == counts["valid"]


def test_a_completed_job_survives_kill_9_and_a_restart(private_cloud: dict[str, str], tmp_path: Path) -> None:
    env = private_cloud
    if not COMPLETED:  # run alone: ingest the job here
        cli_ok(run_cli(env, "deploy", "--stage", STAGE))
        path = tmp_path / "big.csv"
        counts = write_orders(path, ROWS, seed=21, start_id=BIG_FIRST_ID)
        ingest = ["ingest", str(path), "--dataset", "orders", "--key", BIG_KEY, "--stage", STAGE, "--wait"]
        cli_ok(run_cli(env, *ingest, timeout=1800))
        COMPLETED.update(job=_job(env, BIG_KEY), counts=counts, small={"valid": 0})
    job_id, counts = COMPLETED["job"]["job_id"], COMPLETED["counts"]
    expected_items = counts["valid"] + COMPLETED["small"]["valid"]  # the two files' ids do not overlap

    started = time.monotonic()
    saved = _wait_saved(env, COMPLETED["job"]["finished_at"])
    print(f"checkpoint covering the job: generation {saved['saved_generation']}, {time.monotonic() - started:.1f}s")
    os.kill(_status(env)["pid"], signal.SIGKILL)  # the emulator dies: no shutdown, no save

    started = time.monotonic()
    restarted = cli_ok(run_cli(env, "local", "start", timeout=1800))
    print(f"start after kill -9: {time.monotonic() - started:.1f}s: {restarted.strip()}")
    assert f"generation {saved['saved_generation']}" in restarted, restarted
    assert "resumed interrupted job" not in restarted, restarted  # nothing was left unfinished
    _check_everything(env, job_id, counts, expected_items)

    started = time.monotonic()
    stopped = cli_ok(run_cli(env, "local", "stop", timeout=1800))
    print(f"stop: {time.monotonic() - started:.1f}s: {stopped.strip()}")
    assert "local cloud stopped;" in stopped, stopped
    started = time.monotonic()
    cli_ok(run_cli(env, "local", "start", timeout=1800))
    print(f"start after stop: {time.monotonic() - started:.1f}s")
    _check_everything(env, job_id, counts, expected_items)
