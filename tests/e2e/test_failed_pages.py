"""A page that fails every retry lands in the dead-letter queue and fails its job with the page and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.cli import ops
from pipeline.cli.target import Cloud
from pipeline.jobs import JobStore
from pipeline.local import LocalCloud
from tests.e2e.conftest import E2E_PARAMETERS, upload_orders, wait_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def failing_stack(local_cloud: LocalCloud) -> dict[str, str]:
    """A stage whose page processors crash on page 1 after writing DynamoDB, on every attempt."""
    parameters = {**E2E_PARAMETERS, "PageMaxReceives": "2", "Failpoints": "after-dynamodb:1"}
    return ops.deploy(Cloud("e2efail", local_cloud), parameters, print) | {"Endpoint": local_cloud.endpoint}


def test_page_failing_every_retry_fails_the_job_with_page_and_reason(
    failing_stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, _ = upload_orders(aws_clients, failing_stack, tmp_path, 12_000, start_id=60_000_000, seed=13)
    job = wait_job(failing_stack, key, timeout=300)

    assert job["status"] == "FAILED", job
    assert job["error"] == "PageFailed"
    assert "page 1" in job["cause"] and "failpoint after-dynamodb hit on page 1" in job["cause"]
    pages = {p["page"]: p for p in JobStore(failing_stack["JobsTable"]).pages(job["job_id"])}
    assert pages[1]["status"] == "FAILED"
    assert pages[0]["status"] == pages[2]["status"] == "DONE"
    execution = aws_clients["stepfunctions"].describe_execution(executionArn=job["execution_arn"])
    assert execution["status"] == "FAILED"
    assert execution.get("error") == "PageFailed"
    dlq = aws_clients["sqs"].get_queue_attributes(
        QueueUrl=failing_stack["PagesDeadLetterQueueUrl"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert dlq["Attributes"]["ApproximateNumberOfMessages"] == "0"  # consumed by the dead-letter handler
