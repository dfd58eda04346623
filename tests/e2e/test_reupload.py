"""Uploading a file again, or a new version under the same key, replaces the older job's output: Athena never
counts a file twice, and DynamoDB holds the newest version's rows (upserted by primary key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime.jobs import JobStore
from pipeline.tools.sample import write_orders
from tests.e2e.conftest import assert_reconciled, athena_count, unique_prefix

pytestmark = pytest.mark.e2e

WHERE = "order_id BETWEEN %(lo)s AND %(hi)s"


def _put(aws_clients: dict[str, Any], stack: dict[str, str], key: str, path: Path) -> str:
    return str(aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=path.read_bytes())["VersionId"])


def _job_of_version(stack: dict[str, str], key: str, version: str) -> dict[str, Any]:
    from pipeline.tools.cli import ops

    return ops.wait_for(stack, [{"key": key, "version_id": version}], lambda jobs: None, timeout=600)[0]


@pytest.mark.parametrize(("rows", "mode"), [(1_500, "inline"), (12_000, "paged")])
def test_a_new_version_of_a_key_replaces_the_output_of_the_old_one(
    rows: int, mode: str, stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    start_id = 80_000_000 if mode == "inline" else 81_000_000
    ids = {"lo": f"ORD-{start_id:08d}", "hi": f"ORD-{start_id + rows - 1:08d}"}
    key = f"orders/{unique_prefix()}/daily.csv"
    first, second = tmp_path / "v1.csv", tmp_path / "v2.csv"
    write_orders(first, rows, seed=31, start_id=start_id)
    counts = write_orders(second, rows, seed=32, start_id=start_id)  # same keys, other values and rejects

    old = _job_of_version(stack, key, _put(aws_clients, stack, key, first))
    assert old["status"] == "COMPLETE" and old.get("mode", "inline") == mode
    new = _job_of_version(stack, key, _put(aws_clients, stack, key, second))
    assert new["status"] == "COMPLETE" and new["job_id"] != old["job_id"]

    store = JobStore(stack["JobsTable"])
    assert (store.get(old["job_id"]) or {}).get("superseded_by") == new["job_id"]
    assert athena_count(stack, WHERE, ids) == counts["valid"]  # not old + new
    assert assert_reconciled(stack, new["job_id"])["s3_output_rows"] == counts["valid"]
    assert assert_reconciled(stack, old["job_id"])["superseded_by"] == new["job_id"]

    again = _job_of_version(stack, key, _put(aws_clients, stack, key, second))  # the same file once more
    assert again["status"] == "COMPLETE" and again["job_id"] != new["job_id"]
    assert athena_count(stack, WHERE, ids) == counts["valid"]
    assert (store.get(new["job_id"]) or {}).get("superseded_by") == again["job_id"]


def test_a_late_older_version_never_replaces_a_newer_one(stack: dict[str, str], aws_clients: dict[str, Any]) -> None:
    """Completion order does not decide: S3's event order (the sequencer) does."""
    from pipeline.runtime.jobs.supersede import settle_latest

    store = JobStore(stack["JobsTable"])
    key = f"orders/{unique_prefix()}/late.csv"
    newer = {"job_id": "late-newer", "bucket": stack["IngestBucket"], "key": key, "sequencer": "0A2"}
    older = {"job_id": "late-older", "bucket": stack["IngestBucket"], "key": key, "sequencer": "09F"}
    for job in (newer, older):
        store.update_job(job["job_id"], {k: v for k, v in job.items() if k != "job_id"} | {"status": "COMPLETE"})
    settle_latest(store, newer, stack["ResultsBucket"])
    settled = settle_latest(store, older, stack["ResultsBucket"])  # finishes last, but is the older version
    assert settled.get("superseded_by") == "late-newer"
    assert "superseded_by" not in (store.get("late-newer") or {})


def test_an_older_version_that_fails_after_a_newer_one_completed_retires_what_it_left(
    stack: dict[str, str], aws_clients: dict[str, Any]
) -> None:
    """The other order of `test_failed_pages.py`'s re-upload: the newer version completes first."""
    from pipeline.runtime.jobs.supersede import fail, settle_latest

    store, prefix = JobStore(stack["JobsTable"]), unique_prefix()
    key = f"orders/{prefix}/fails-late.csv"
    newer = {"job_id": f"{prefix}-newer", "bucket": stack["IngestBucket"], "key": key, "sequencer": "0B0"}
    older = {"job_id": f"{prefix}-older", "bucket": stack["IngestBucket"], "key": key, "sequencer": "0A0"}
    for job in (newer, older):
        store.update_job(job["job_id"], {k: v for k, v in job.items() if k != "job_id"} | {"status": "PAGING"})
    left = f"orders/dt=2099-01-01/part-{older['job_id']}-000000.tsv"  # a page that finished: no rows, a file
    crashed = f"orders/dt=2099-01-01/part-{older['job_id']}-000001.tsv"  # written, then the page crashed
    for key_ in (left, crashed):
        aws_clients["s3"].put_object(Bucket=stack["ResultsBucket"], Key=key_, Body=b"")
    store.record_page(older["job_id"], 0, {"rows_input": 0, "rows_valid": 0, "rows_rejected": 0, "outputs": {left: 0}})
    store.note_outputs(older["job_id"], 1, [crashed])  # what a page does before it writes

    settle_latest(store, newer, stack["ResultsBucket"])  # the newer version completes
    failed = fail(store, older["job_id"], "PageFailed", "page 1 failed", stack["ResultsBucket"])  # then the older fails
    assert (failed["status"], failed.get("superseded_by"), failed.get("outputs_deleted")) == (
        "FAILED",
        newer["job_id"],
        2,
    )
    for key_ in (left, crashed):
        with pytest.raises(aws_clients["s3"].exceptions.ClientError):
            aws_clients["s3"].head_object(Bucket=stack["ResultsBucket"], Key=key_)
