"""A plain `put_object` into the ingest bucket goes through S3 -> SNS -> Lambda -> DynamoDB + S3 -> Athena."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    assert_reconciled,
    athena_count,
    job_output_keys,
    output_rows,
    records_for_job,
    unique_prefix,
    upload_orders,
    wait_job,
)

pytestmark = pytest.mark.e2e


def test_small_file_lands_in_dynamodb_s3_and_athena(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, counts = upload_orders(aws_clients, stack, tmp_path, 2_000, start_id=1_000_000)
    job = wait_job(stack, key)

    assert job["status"] == "COMPLETE", job
    assert job["mode"] == "inline"
    assert job["rows_input"] == 2_000
    assert job["rows_valid"] == counts["valid"]
    assert job["rows_valid"] + job["rows_rejected"] == job["rows_input"]
    items = records_for_job(aws_clients, stack, job["job_id"])
    assert len({i["pk"]["S"] for i in items}) == counts["valid"]
    assert all(i["pk"]["S"].startswith("orders#ORD-") for i in items)
    keys = job_output_keys(stack, job["job_id"])
    assert keys and all(k.startswith("orders/dt=") for k in keys)
    assert output_rows(aws_clients, stack["ResultsBucket"], keys) == counts["valid"]
    where = "order_id BETWEEN %(lo)s AND %(hi)s"
    assert athena_count(stack, where, {"lo": "ORD-01000000", "hi": "ORD-01001999"}) == counts["valid"]
    assert assert_reconciled(stack, job["job_id"])["s3_output_rows"] == counts["valid"]


def test_rejected_rows_are_kept_with_line_and_reasons(stack: dict[str, str], aws_clients: dict[str, Any]) -> None:
    body = (
        "order_id,customer_id,order_ts,ship_date,status,amount,currency,quantity,is_gift,note\n"
        'ORD-02000001,5,2024-05-01T10:00:00Z,,NEW,10.00,EUR,1,,"two\nlines"\n'
        "ORD-02000002,x,2024-05-01T10:00:00Z,,LOST,10.00,EUR,1,,\n"
        "ORD-02000003,5,2024-05-01T10:00:00Z\n"
    )
    key = f"orders/{unique_prefix()}/mixed.csv"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=body.encode())
    job = wait_job(stack, key)

    assert job["status"] == "COMPLETE"
    assert (job["rows_input"], job["rows_valid"], job["rows_rejected"]) == (3, 1, 2)
    from pipeline.runtime.jobs import JobStore

    page = JobStore(stack["JobsTable"]).pages(job["job_id"])[0]
    rejects = aws_clients["s3"].get_object(Bucket=stack["ResultsBucket"], Key=page["rejects_key"])["Body"].read()
    rows = list(csv.DictReader(io.StringIO(rejects.decode())))
    assert [r["line"] for r in rows] == ["4", "5"]
    assert "customer_id: not an integer" in rows[0]["reasons"] and "status: not one of" in rows[0]["reasons"]
    assert "expected 10 fields, found 3" in rows[1]["reasons"]
    assert rows[1]["record"] == "ORD-02000003,5,2024-05-01T10:00:00Z"
    assert_reconciled(stack, job["job_id"])


@pytest.mark.parametrize(
    ("key_template", "body", "error_text"),
    [
        ("customers/{p}/c.csv", b"id,name\n1,a\n", "no schema for dataset 'customers'"),
        ("orders/{p}/empty.csv", b"", "the file is empty"),
        (
            "orders/{p}/header-only.csv",
            b"order_id,customer_id,order_ts,ship_date,status,amount,currency,quantity,is_gift,note\n",
            "header but no rows",
        ),
        ("orders/{p}/wrong-columns.csv", b"id,when,total\n1,2024-01-01,3\n", "missing required columns"),
        (
            "orders/{p}/semicolons.csv",
            b"order_id;customer_id;order_ts;status;amount;currency;quantity\nORD-1;1;2024;NEW;1;EUR;1\n",
            "semicolon-delimited",
        ),
    ],
    ids=["unknown-dataset", "empty", "header-only", "wrong-columns", "wrong-delimiter"],
)
def test_bad_files_end_as_failed_jobs_and_the_raw_object_stays(
    stack: dict[str, str], aws_clients: dict[str, Any], key_template: str, body: bytes, error_text: str
) -> None:
    key = key_template.format(p=unique_prefix())
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=body)
    job = wait_job(stack, key)

    assert job["status"] == "FAILED"
    assert error_text in job["cause"]
    head = aws_clients["s3"].head_object(Bucket=stack["IngestBucket"], Key=key)
    assert head["ContentLength"] == len(body)


def test_keys_with_spaces_and_unicode_are_decoded(
    stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    from pipeline.tools.sample import write_orders

    path = tmp_path / "o.csv"
    counts = write_orders(path, 50, seed=9, start_id=3_000_000)
    key = f"orders/{unique_prefix()}/März Bestellungen + extra.csv"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=path.read_bytes())
    job = wait_job(stack, key)
    assert job["status"] == "COMPLETE"
    assert job["key"] == key
    assert job["rows_valid"] == counts["valid"]
