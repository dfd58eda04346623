"""A page processor that crashes after writing DynamoDB but before S3, or after S3 but before counting the page,
is retried, and the end state is exactly as if it had succeeded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime.jobs import JobStore
from pipeline.tools.local import LocalCloud
from tests.e2e.conftest import assert_reconciled, deploy_stage, records_for_job, upload_orders, wait_job

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def crashing_stack(local_cloud: LocalCloud) -> dict[str, str]:
    """Page 1 crashes after its DynamoDB write and page 2 after its S3 write, each on its first attempt only."""
    return deploy_stage(local_cloud, "e2ecrash", PageMaxReceives="3", Failpoints="after-dynamodb:1:1,after-s3:2:1")


def test_crashes_mid_page_are_retried_without_duplicating_or_losing_a_row(
    crashing_stack: dict[str, str], aws_clients: dict[str, Any], tmp_path: Path
) -> None:
    key, counts = upload_orders(aws_clients, crashing_stack, tmp_path, 14_000, start_id=62_000_000, seed=17)
    job = wait_job(crashing_stack, key, timeout=300)

    assert job["status"] == "COMPLETE", job
    assert job["pages_done"] == job["pages_total"] == 3
    assert (job["rows_input"], job["rows_valid"]) == (14_000, counts["valid"])
    pages = {p["page"]: p for p in JobStore(crashing_stack["JobsTable"]).pages(job["job_id"])}
    assert "after-dynamodb hit on page 1" in pages[1]["last_error"]  # it really crashed once...
    assert "after-s3 hit on page 2" in pages[2]["last_error"]
    assert all(p["status"] == "DONE" for p in pages.values())  # ...and then succeeded
    assert "last_error" not in pages[0]
    items = records_for_job(aws_clients, crashing_stack, job["job_id"])
    assert len(items) == len({i["pk"]["S"] for i in items}) == counts["valid"]
    assert assert_reconciled(crashing_stack, job["job_id"])["s3_output_rows"] == counts["valid"]
