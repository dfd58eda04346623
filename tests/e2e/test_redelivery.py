"""At-least-once delivery: the same S3 event and the same page message delivered again change nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from pipeline.runtime.jobs import JobStore
from pipeline.tools.sample.orders import HEADER
from tests.e2e.conftest import assert_reconciled, job_output_keys, output_rows, records_for_job, upload_orders, wait_job

pytestmark = pytest.mark.e2e


def _s3_event(job: dict[str, Any]) -> dict[str, Any]:
    """The S3 notification AWS sends for the job's object, with the key URL-encoded."""
    obj = {
        "key": quote_plus(job["key"], safe="/"),
        "size": job["size"],
        "eTag": job["etag"],
        "sequencer": job["sequencer"],
    }
    if job.get("version_id"):
        obj["versionId"] = job["version_id"]
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": job["event_time"],
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": job["bucket"], "arn": f"arn:aws:s3:::{job['bucket']}"},
                    "object": obj,
                },
            }
        ]
    }


def _snapshot(stack: dict[str, str], aws_clients: dict[str, Any], job_id: str) -> tuple[Any, ...]:
    job = JobStore(stack["JobsTable"]).get(job_id) or {}
    items = records_for_job(aws_clients, stack, job_id)
    keys = job_output_keys(stack, job_id)
    return (
        job["status"],
        job.get("pages_done"),
        job["rows_input"],
        job["rows_valid"],
        job["rows_rejected"],
        len(items),
        keys,
        output_rows(aws_clients, stack["ResultsBucket"], keys),
    )


def test_duplicate_s3_event_is_one_job_and_one_copy_of_each_row(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, counts = upload_orders(aws_clients, stack, tmp_path, 1_500, start_id=50_000_000, seed=11)
    job = wait_job(stack, key)
    before = _snapshot(stack, aws_clients, job["job_id"])

    aws_clients["sns"].publish(
        TopicArn=stack["IngestTopicArn"], Subject="Amazon S3 Notification", Message=json.dumps(_s3_event(job))
    )
    time.sleep(4)

    jobs_for_key = [j for j in JobStore(stack["JobsTable"]).jobs() if j.get("key") == key]
    assert len(jobs_for_key) == 1
    assert _snapshot(stack, aws_clients, job["job_id"]) == before
    assert before[3] == counts["valid"]
    assert_reconciled(stack, job["job_id"])


def test_duplicate_page_message_is_counted_once(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, counts = upload_orders(aws_clients, stack, tmp_path, 12_000, start_id=51_000_000, seed=12)
    job = wait_job(stack, key)
    assert job["mode"] == "paged"
    before = _snapshot(stack, aws_clients, job["job_id"])
    page = JobStore(stack["JobsTable"]).pages(job["job_id"])[1]
    descriptor = {
        "job_id": job["job_id"],
        "dataset": "orders",
        "bucket": job["bucket"],
        "key": key,
        "version_id": job.get("version_id") or "",
        "etag": job["etag"],
        "page": page["page"],
        "start": page["start"],
        "end": page["end"],
        "first_line": page["first_line"],
        "header": ",".join(HEADER),
    }

    for _ in range(2):
        aws_clients["sns"].publish(TopicArn=stack["PagesTopicArn"], Message=json.dumps(descriptor))
    time.sleep(6)

    assert _snapshot(stack, aws_clients, job["job_id"]) == before
    assert before[3] == counts["valid"]
    assert_reconciled(stack, job["job_id"])
