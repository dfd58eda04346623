"""Large uploads go through the batch state machine: paging loop, SNS -> SQS fan-out, task-token completion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime.jobs import JobStore
from pipeline.tools.local import LocalCloud
from tests.e2e.conftest import (
    assert_reconciled,
    athena_count,
    deploy_stage,
    job_output_keys,
    output_rows,
    records_for_job,
    unique_prefix,
    upload_orders,
    wait_job,
)

pytestmark = pytest.mark.e2e
HISTORY_LIMIT = 25_000


def _history(aws_clients: dict[str, Any], execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = aws_clients["stepfunctions"].get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def test_250k_row_file_is_paged_into_50_pages_and_every_row_lands_once(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, counts = upload_orders(aws_clients, stack, tmp_path, 250_000, start_id=20_000_000, seed=5)
    job = wait_job(stack, key)

    assert job["status"] == "COMPLETE", job
    assert job["mode"] == "paged"
    assert job["pages_total"] >= 50 and job["pages_done"] == job["pages_total"]
    assert job["rows_input"] == 250_000
    assert job["rows_valid"] == counts["valid"]
    assert job["rows_valid"] + job["rows_rejected"] == job["rows_input"]
    items = records_for_job(aws_clients, stack, job["job_id"])
    assert len(items) == len({i["pk"]["S"] for i in items}) == counts["valid"]
    assert output_rows(aws_clients, stack["ResultsBucket"], job_output_keys(stack, job["job_id"])) == counts["valid"]
    where = "order_id BETWEEN %(lo)s AND %(hi)s"
    assert athena_count(stack, where, {"lo": "ORD-20000000", "hi": "ORD-20249999"}) == counts["valid"]
    assert assert_reconciled(stack, job["job_id"])["distinct_keys"] == counts["valid"]

    events = _history(aws_clients, job["execution_arn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    assert entered.count("Page through file") >= 5  # 50+ pages at 10 pages per iteration
    assert entered[-2:] == ["Announce job completed", "Job complete"]
    assert len(events) < HISTORY_LIMIT
    partitions = aws_clients["glue"].get_partitions(DatabaseName=stack["GlueDatabase"], TableName="orders")
    assert {p["Values"][0] for p in partitions["Partitions"]} >= {
        k.split("/")[1][3:] for k in job_output_keys(stack, job["job_id"])
    }


def test_quoted_multiline_fields_straddling_page_boundaries_lose_no_row(
    stack: dict[str, str], aws_clients: dict[str, Any]
) -> None:
    header = "order_id,customer_id,order_ts,ship_date,status,amount,currency,quantity,is_gift,note\n"
    rows = []
    for i in range(12_000):
        note = '"line one\nline two, with ""quotes""\nline three"' if i % 3 == 0 else "plain"
        rows.append(f"ORD-{30_000_000 + i:08d},{i + 1},2024-04-0{1 + i % 9}T12:00:00Z,,NEW,1.50,EUR,1,,{note}\n")
    body = (header + "".join(rows)).encode()
    key = f"orders/{unique_prefix()}/multiline.csv"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=body)
    job = wait_job(stack, key)

    assert job["status"] == "COMPLETE", job
    assert job["mode"] == "paged" and job["pages_total"] >= 3
    assert (job["rows_input"], job["rows_valid"], job["rows_rejected"]) == (12_000, 12_000, 0)
    assert_reconciled(stack, job["job_id"])
    pages = JobStore(stack["JobsTable"]).pages(job["job_id"])
    assert pages[1]["first_line"] == 2 + 5_000 + 2 * len(range(0, 5_000, 3))  # physical lines, not records


@pytest.fixture(scope="module")
def tiny_pages_stack(local_cloud: LocalCloud) -> dict[str, str]:
    """A second stage in the same local cloud that pages 40 rows at a time and continues every 3 loops."""
    return deploy_stage(
        local_cloud, "e2econt", PageRows="40", InlineMaxBytes="1000", PagesPerIteration="2", IterationsPerExecution="3"
    )


def test_forced_continuation_keeps_each_execution_small(
    tiny_pages_stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, counts = upload_orders(aws_clients, tiny_pages_stack, tmp_path, 1_000, start_id=40_000_000, seed=8)
    job = wait_job(tiny_pages_stack, key)

    assert job["status"] == "COMPLETE", job
    assert job["pages_total"] == 25
    assert job["rows_valid"] == counts["valid"]
    executions = aws_clients["stepfunctions"].list_executions(stateMachineArn=tiny_pages_stack["StateMachineArn"])
    ours = [e for e in executions["executions"] if e["name"].startswith(job["job_id"])]
    assert len(ours) >= 4  # 25 pages / (2 pages x 3 loops) per execution
    for execution in ours:
        events = _history(aws_clients, execution["executionArn"])
        loops = sum(
            1
            for e in events
            if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "Page through file"
        )
        assert loops <= 3
        assert len(events) < 100
        assert all(len(json.dumps(e, default=str)) < 256 * 1024 for e in events)
