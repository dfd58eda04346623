"""The CLI's conventions on the local cloud, through `pipeline` itself: its documented exit codes (3: a job is not
COMPLETE, 4: reconcile disagrees) and `pipeline logs`.

Oracles: the job record in DynamoDB (a job FAILED for an unknown dataset), a DynamoDB item deleted with plain
boto3 behind the pipeline's back, and the log lines CloudWatch Logs holds for the upload function.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from pipeline.tools.cli.exits import Exit
from pipeline.tools.cli.main import cli
from pipeline.tools.sample import write_orders
from tests.e2e.conftest import records_for_job, unique_prefix

pytestmark = pytest.mark.e2e


def _run(command: str, *args: str) -> Result:
    """`pipeline <command> --stage e2e <args>` in this process (the local cloud's e2e stage)."""
    result = CliRunner().invoke(cli, [command, "--stage", "e2e", *args], env={"PIPELINE_LOCAL": "1"})
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def complete_job(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small orders file ingested with `pipeline ingest --wait --json`: its COMPLETE job."""
    path = tmp_path_factory.mktemp("cli") / "orders.csv"
    write_orders(path, 40, seed=21, start_id=93_000_000)
    result = _run(
        "ingest", str(path), "--dataset", "orders", "--key", f"orders/{unique_prefix()}/o.csv", "--wait", "--json"
    )
    assert result.exit_code == Exit.OK, result.output
    job = json.loads(result.stdout)
    assert job["status"] == "COMPLETE", job
    return job


def test_ingest_wait_exits_3_when_the_job_is_not_complete(stack: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "unknown.csv"
    path.write_text("a,b\n1,2\n")
    result = _run(
        "ingest",
        str(path),
        "--dataset",
        "nosuchdataset",
        "--key",
        f"nosuchdataset/{unique_prefix()}.csv",
        "--wait",
        "--json",
    )
    assert result.exit_code == Exit.NOT_COMPLETE == 3, result.output
    job = json.loads(result.stdout)
    assert job["status"] == "FAILED" and "nosuchdataset" in job["cause"], job
    waited = _run("jobs", "wait", job["job_id"][:12])  # `jobs wait` on the finished job says the same
    assert waited.exit_code == 3 and "FAILED" in waited.output, waited.output


def test_jobs_wait_exits_0_for_a_complete_job(complete_job: dict[str, Any]) -> None:
    result = _run("jobs", "wait", complete_job["job_id"], "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["job_id"] == complete_job["job_id"]


def test_reconcile_exits_4_when_a_complete_jobs_stores_disagree(
    stack: dict[str, str], aws_clients: dict[str, Any], complete_job: dict[str, Any]
) -> None:
    agreed = _run("reconcile", complete_job["job_id"])
    assert agreed.exit_code == 0 and "reconciled" in agreed.output, agreed.output
    items = [
        i for i in records_for_job(aws_clients, stack, complete_job["job_id"]) if i["pk"]["S"].startswith("orders#")
    ]
    assert len(items) == int(complete_job["rows_valid"]) > 0
    aws_clients["dynamodb"].delete_item(TableName=stack["RecordsTable"], Key={"pk": items[0]["pk"]})
    result = _run("reconcile", complete_job["job_id"], "--json")
    assert result.exit_code == Exit.DISAGREES == 4, result.output
    report = json.loads(result.stdout)
    assert not report["ok"] and any(items[0]["pk"]["S"] in p for p in report["problems"]), report


def _lines_in_group(stack: dict[str, str], group: str, job_id: str) -> list[str]:
    """The oracle: every message of ``group`` naming ``job_id``, read stream by stream with GetLogEvents."""
    logs = boto3.client(
        "logs",
        endpoint_url=stack["Endpoint"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    messages = []
    streams = [s for page in logs.get_paginator("describe_log_streams").paginate(logGroupName=group)
               for s in page["logStreams"]]  # fmt: skip
    for stream in streams:  # every stream (a page holds 50) and every event of it (a call returns at most 10,000)
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream["logStreamName"]}
        kwargs["startFromHead"] = True
        while True:
            events = logs.get_log_events(**kwargs)
            messages += [e["message"] for e in events["events"] if job_id in e["message"]]
            if not events["events"] or events.get("nextForwardToken") in (None, kwargs.get("nextToken")):
                break
            kwargs["nextToken"] = events["nextForwardToken"]
    return messages


def test_logs_shows_the_upload_functions_lines_for_the_job(stack: dict[str, str], complete_job: dict[str, Any]) -> None:
    job_id = complete_job["job_id"]
    upload = next(key for key in ("UploadFunction", "ProcessorFunction") if key in stack)
    function = stack[upload].removeprefix("pipeline-e2e-")
    # the job turns COMPLETE inside the invocation; its lines reach the log group when the invocation returns
    deadline = time.monotonic() + 60
    while True:
        result = _run("logs", job_id[:12], "--json")
        assert result.exit_code == 0, result.output
        lines = json.loads(result.stdout)
        handled = [line for line in lines if line["function"] == function and line["message"] == "upload handled"]
        if handled or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(handled) == 1 and handled[0]["fields"]["file"].endswith(complete_job["key"]), lines
    expected = [json.loads(m) for m in _lines_in_group(stack, f"/aws/lambda/{stack[upload]}", job_id)]
    assert sorted(line["message"] for line in lines if line["function"] == function) == sorted(
        m["message"] for m in expected if m.get("correlation_id") == job_id
    )
    shown = _run("logs", job_id)
    assert shown.exit_code == 0 and "upload handled" in shown.output, shown.output
    followed = _run("logs", job_id, "--follow", "--json")  # the job is finished: it ends after the settle time
    assert followed.exit_code == 0
    assert [json.loads(line) for line in followed.stdout.splitlines()] == lines
