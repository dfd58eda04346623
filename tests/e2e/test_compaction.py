"""A paged job compacts when its pages are in, by default (ADR 10): the same key on different pages is one row in
Athena, equal to the DynamoDB item; the superseded rows are in the job's rejects; one file per partition; reconcile
agrees; the compact step crashing and resuming, a redrive, and compaction run again change nothing."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from pipeline.runtime.config import Settings
from pipeline.runtime.contract import load_contract
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.jobs.compaction import compact
from pipeline.tools.cli.main import cli
from pipeline.tools.local import LocalCloud
from tests.e2e.conftest import assert_reconciled, athena_count, deploy_stage, unique_prefix, wait_job

pytestmark = pytest.mark.e2e
HEADER = "order_id,customer_id,order_ts,ship_date,status,amount,currency,quantity,is_gift,note\n"
ROWS = 200  # 5 pages of 40 rows


@pytest.fixture(scope="module")
def compacting_stack(local_cloud: LocalCloud) -> dict[str, str]:
    """The template's default `CompactOutputs` (no override). Each compact invocation stops after one partition
    (as if its time ran out: the state machine invokes it again) and its first attempt crashes after a
    partition's `COMPACT#` item is written, before that partition's page files are deleted (the step retries)."""
    return deploy_stage(
        local_cloud,
        "e2ecompact",
        PageRows="40",
        InlineMaxBytes="1000",
        Failpoints="compact-partition::1,compact-one-partition",
    )


def _row(n: int, day: int, amount: str) -> str:
    return f"ORD-{n:08d},{n + 1},2024-05-0{day}T12:00:00Z,,NEW,{amount},EUR,1,,row {n}\n"


def _listing(aws_clients: dict[str, Any], bucket: str) -> dict[str, str]:
    s3, found, kwargs = aws_clients["s3"], {}, {"Bucket": bucket, "Prefix": "orders/"}
    while True:
        page = s3.list_objects_v2(**kwargs)
        found.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return found
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def test_the_same_key_on_different_pages_is_one_row_in_athena_equal_to_dynamodb(
    compacting_stack: dict[str, str], aws_clients: dict[str, Any]
) -> None:
    stack, base = compacting_stack, 70_000_000
    rows = [_row(base + i, 1 + i % 3, "1.00") for i in range(ROWS)]
    rows[10] = _row(base + 500, 1, "1.00")  # page 1, day 1 ...
    rows[185] = _row(base + 500, 4, "9.99")  # ... page 5, day 4: wins, in another partition
    rows[50] = _row(base + 501, 2, "2.00")  # page 2 ...
    rows[90] = _row(base + 501, 2, "3.00")  # ... page 3, the same day: wins
    body = HEADER + "".join(rows)
    key = f"orders/{unique_prefix()}/dupes.csv"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=body.encode())
    job = wait_job(stack, key)

    assert job["status"] == "COMPLETE" and job["mode"] == "paged" and job["pages_total"] == 5, job
    assert (job["rows_input"], job["rows_valid"], job["rows_rejected"]) == (ROWS, ROWS - 2, 2)
    assert job["compaction"]["status"] == "DONE" and job["compaction"]["superseded"] == 2

    # the compact step ran once per partition, each first attempt crashing and retried, and looped back to itself
    sfn = aws_clients["stepfunctions"]
    history = sfn.get_execution_history(executionArn=job["execution_arn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert entered.count("Compact job output") == 2 and entered.count("Compaction finished?") == 2, entered
    failed = [e for e in history if e["type"] == "TaskFailed"]
    assert len(failed) == 2 and all("failpoint compact-partition hit" in str(e) for e in failed), failed

    # Athena: one row per key, the last in file order
    where = "order_id BETWEEN %(lo)s AND %(hi)s"
    assert athena_count(stack, where, {"lo": f"ORD-{base:08d}", "hi": f"ORD-{base + 999:08d}"}) == ROWS - 2
    for order_id, amount, line in ((base + 500, "9.99", 2 + 185), (base + 501, "3.00", 2 + 90)):
        assert athena_count(stack, "order_id = %(id)s", {"id": f"ORD-{order_id:08d}"}) == 1
        assert athena_count(stack, f"order_id = %(id)s AND amount = {amount}", {"id": f"ORD-{order_id:08d}"}) == 1
        item = aws_clients["dynamodb"].get_item(
            TableName=stack["RecordsTable"], Key={"pk": {"S": f"orders#ORD-{order_id:08d}"}}
        )["Item"]
        assert float(item["amount"]["N"]) == float(amount)
        assert (int(item["line"]["N"]), item["job_id"]["S"]) == (line, job["job_id"])

    # the superseded rows are in the job's rejects, as they were in the file, naming the line that replaced them
    text = aws_clients["s3"].get_object(Bucket=stack["ResultsBucket"], Key=job["compaction"]["rejects_key"])["Body"]
    rejects = list(csv.reader(io.StringIO(text.read().decode())))[1:]
    assert [(int(r[0]), r[2]) for r in rejects] == [(12, rows[10].rstrip("\n")), (52, rows[50].rstrip("\n"))]
    assert "superseded by line 187" in rejects[0][1] and "superseded by line 92" in rejects[1][1]

    # one file per partition, no page file left
    store = JobStore(stack["JobsTable"])
    files = [k for k in _listing(aws_clients, stack["ResultsBucket"]) if job["job_id"] in k]
    folders = [k.rsplit("/", 1)[0] for k in files]
    assert len(folders) == len(set(folders)) == 4 and all(k.endswith("-c0000.tsv") for k in files)
    assert set(files) <= set(store.output_keys(job["job_id"]))
    counts = assert_reconciled(stack, job["job_id"])
    assert counts["distinct_keys"] == counts["s3_output_rows"] == ROWS - 2

    # a redrive of the complete job, the compact step invoked again, and compaction run again, change nothing
    before = (_listing(aws_clients, stack["ResultsBucket"]), store.get(job["job_id"]))
    again = boto3.client(
        "lambda",
        endpoint_url=stack["Endpoint"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).invoke(FunctionName=stack["CompactFunction"], Payload=json.dumps({"job_id": job["job_id"], "retry_count": 5}))
    assert json.loads(again["Payload"].read())["done"] is True
    assert (_listing(aws_clients, stack["ResultsBucket"]), store.get(job["job_id"])) == before
    redrive = CliRunner().invoke(
        cli, ["redrive", job["job_id"], "--stage", "e2ecompact", "--json"], env={"PIPELINE_LOCAL": "1"}
    )
    assert json.loads(redrive.output)["redriven"][0]["action"] == "none", redrive.output
    settings = Settings(
        results_bucket=stack["ResultsBucket"], records_table=stack["RecordsTable"], jobs_table=stack["JobsTable"]
    )
    compact(store, job["job_id"], load_contract("orders"), settings)
    assert (_listing(aws_clients, stack["ResultsBucket"]), store.get(job["job_id"])) == before
    assert_reconciled(stack, job["job_id"])
