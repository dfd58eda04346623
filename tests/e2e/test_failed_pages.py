"""A page that fails every retry lands in the dead-letter queue and fails its job with the page and reason;
`pipeline redrive` then reprocesses just that page and the job completes. A fixed re-upload of a failed file
retires what the failed job left instead."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime.jobs import JobStore
from pipeline.tools.local import LocalCloud
from pipeline.tools.sample import write_orders
from tests.e2e.conftest import (
    assert_reconciled,
    athena_count,
    deploy_stage,
    job_output_keys,
    records_for_job,
    unique_prefix,
    upload_orders,
    wait_job,
)

pytestmark = pytest.mark.e2e
REUPLOAD_ROWS, REUPLOAD_SEED, REUPLOAD_START = 12_000, 14, 61_000_000


def _finished_execution(sfn: Any, arn: str, timeout: float = 60) -> dict[str, Any]:
    """The execution once it has stopped (it fails through its `Mark job failed` step just after the job does)."""
    deadline = time.monotonic() + timeout
    while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"execution still RUNNING after {timeout:.0f}s"
        time.sleep(0.5)
    return execution


@pytest.fixture(scope="module")
def failing_stack(local_cloud: LocalCloud) -> dict[str, str]:
    """A stage whose page processors crash on page 1 after writing DynamoDB, on every attempt."""
    return deploy_stage(local_cloud, "e2efail", PageMaxReceives="2", Failpoints="after-dynamodb:1")


def test_page_failing_every_retry_fails_the_job_with_page_and_reason(
    failing_stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, _ = upload_orders(aws_clients, failing_stack, tmp_path, 12_000, start_id=60_000_000, seed=13)
    path = tmp_path / "to-fix.csv"  # a second file that fails the same way, re-uploaded once the stage is fixed
    write_orders(path, REUPLOAD_ROWS, seed=REUPLOAD_SEED, start_id=REUPLOAD_START)
    to_fix = f"orders/{unique_prefix()}/to-fix.csv"
    aws_clients["s3"].put_object(Bucket=failing_stack["IngestBucket"], Key=to_fix, Body=path.read_bytes())
    job = wait_job(failing_stack, key, timeout=300)

    assert job["status"] == "FAILED", job
    assert job["error"] == "PageFailed"
    assert "page 1" in job["cause"] and "failpoint after-dynamodb hit on page 1" in job["cause"]
    pages = {p["page"]: p for p in JobStore(failing_stack["JobsTable"]).pages(job["job_id"])}
    assert pages[1]["status"] == "FAILED"
    assert pages[0]["status"] == pages[2]["status"] == "DONE"
    execution = _finished_execution(aws_clients["stepfunctions"], job["execution_arn"])
    assert execution["status"] == "FAILED"
    assert execution.get("error") == "PageFailed"
    dlq = aws_clients["sqs"].get_queue_attributes(
        QueueUrl=failing_stack["PagesDeadLetterQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "0"  # consumed by the dead-letter handler
    failed_job_id = job["job_id"]
    failing_stack["failed_job_id"] = failed_job_id
    second = wait_job(failing_stack, to_fix, timeout=300)
    assert (second["status"], second["error"]) == ("FAILED", "PageFailed"), second
    failing_stack["to_fix"] = to_fix


def test_redrive_after_the_fix_reprocesses_only_the_failed_page_and_completes(
    failing_stack: dict[str, str], local_cloud: LocalCloud, aws_clients: dict[str, Any]
) -> None:
    from click.testing import CliRunner

    from pipeline.tools.cli.main import cli

    job_id = failing_stack.get("failed_job_id")
    if not job_id:
        pytest.skip("needs the failed job of the previous test")
    store = JobStore(failing_stack["JobsTable"])
    done_before = {p["page"]: p["finished_at"] for p in store.pages(job_id) if p.get("status") == "DONE"}

    # The "fix": deploy the stage again without the failpoint, then redrive the job from the CLI.
    deploy_stage(local_cloud, "e2efail", PageMaxReceives="2", Failpoints="")
    result = CliRunner().invoke(
        cli, ["redrive", job_id[:10], "--stage", "e2efail", "--wait", "--json"], env={"PIPELINE_LOCAL": "1"}
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["redriven"][0]["pages_republished"] == [1]
    job = store.get(job_id) or {}
    assert job["status"] == "COMPLETE", job
    assert "error" not in job and "failed_pages" not in job
    pages = {p["page"]: p for p in store.pages(job_id)}
    assert all(p["status"] == "DONE" for p in pages.values())
    assert {n: pages[n]["finished_at"] for n in done_before} == done_before  # the good pages were not redone
    assert_reconciled(failing_stack, job_id)

    names = {arn.rsplit(":", 1)[-1] for arn in job["executions"]}
    assert names == {f"{job_id}-0", f"{job_id}-1"}
    second = aws_clients["stepfunctions"].describe_execution(executionArn=job["execution_arn"])
    assert second["status"] == "SUCCEEDED"

    again = CliRunner().invoke(cli, ["redrive", job_id, "--stage", "e2efail", "--json"], env={"PIPELINE_LOCAL": "1"})
    assert json.loads(again.output)["redriven"][0]["action"] == "none"  # a COMPLETE job is left alone


def test_a_fixed_reupload_of_a_failed_file_leaves_exactly_the_new_versions_rows(
    failing_stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 12, finding 2: a FAILED paged job's finished pages stayed in Athena beside its fixed re-upload."""
    key = failing_stack.get("to_fix")
    if not key:
        pytest.skip("needs the failed job of the first test and the fixed stage of the second")
    store = JobStore(failing_stack["JobsTable"])
    failed = wait_job(failing_stack, key)
    left = job_output_keys(failing_stack, failed["job_id"])
    ids = {"lo": f"ORD-{REUPLOAD_START:08d}", "hi": f"ORD-{REUPLOAD_START + REUPLOAD_ROWS - 1:08d}"}
    where = "order_id BETWEEN %(lo)s AND %(hi)s"
    assert left and athena_count(failing_stack, where, ids) > 0  # the pages that finished before the failure

    path = tmp_path / "fixed.csv"  # the same rows: the cause of the failure is gone, not the data
    counts = write_orders(path, REUPLOAD_ROWS, seed=REUPLOAD_SEED, start_id=REUPLOAD_START)
    version = aws_clients["s3"].put_object(Bucket=failing_stack["IngestBucket"], Key=key, Body=path.read_bytes())
    from pipeline.tools.cli import ops

    fixed = ops.wait_for(failing_stack, [{"key": key, "version_id": version["VersionId"]}], lambda jobs: None, 300)[0]
    assert (fixed["status"], fixed["mode"]) == ("COMPLETE", "paged"), fixed

    old = store.get(failed["job_id"]) or {}
    assert (old["status"], old.get("superseded_by"), old.get("outputs_deleted")) == (
        "FAILED",
        fixed["job_id"],
        len(left),
    )
    for output in left:
        with pytest.raises(aws_clients["s3"].exceptions.ClientError):
            aws_clients["s3"].head_object(Bucket=failing_stack["ResultsBucket"], Key=output)
    assert athena_count(failing_stack, where, ids) == counts["valid"]  # exactly the new version's rows
    reconciled = assert_reconciled(failing_stack, fixed["job_id"])
    assert reconciled["key_newest_complete"] == fixed["job_id"] and reconciled["key_versions"] == 2
    assert records_for_job(aws_clients, failing_stack, failed["job_id"]) == []  # every key overwritten
    assert len(records_for_job(aws_clients, failing_stack, fixed["job_id"])) == reconciled["distinct_keys"]
    again = _cli_json(["redrive", failed["job_id"], "--stage", "e2efail"])
    assert again["redriven"][0]["action"] == "none" and fixed["job_id"] in again["redriven"][0]["detail"]


def _cli_json(args: list[str]) -> dict[str, Any]:
    from click.testing import CliRunner

    from pipeline.tools.cli.main import cli

    result = CliRunner().invoke(cli, [*args, "--json"], env={"PIPELINE_LOCAL": "1"})
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))
