"""A contract redeployed while a file pages (ADR 9): the page that meets the new contract is not processed under
it and says why; `pipeline redrive` retires what the job wrote under the old one and processes the whole file
under the new one, so the job ends with one layout and every row counted once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.runtime.contract.loader import load_contract_file
from pipeline.runtime.jobs import JobStore
from pipeline.tools.local import LocalCloud
from pipeline.tools.operate.redrive import redrive
from tests.e2e.conftest import assert_reconciled, deploy_stage, upload_orders, wait_job

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ROWS = 12_000  # three pages of 5,000 rows


def _until(what: str, check: Any, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)
    return found


def _job_id(stack: dict[str, str], key: str) -> str:
    jobs = JobStore(stack["JobsTable"]).jobs()
    return next((j["job_id"] for j in jobs if j.get("key") == key), "")


def test_a_contract_redeployed_mid_job_fails_the_page_and_a_redrive_redoes_the_job(
    local_cloud: LocalCloud, aws_clients: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # page 1 crashes on every attempt under the first deploy and is retried with a growing back-off meanwhile
    stack = deploy_stage(local_cloud, "e2ecc", Failpoints="after-dynamodb:1", PageMaxReceives="10")
    started_under = load_contract_file(REPO / "schemas" / "orders.schema.json").fingerprint
    key, _ = upload_orders(aws_clients, stack, tmp_path, ROWS, start_id=70_000_000, seed=21)
    job_id = _until("the job", lambda: _job_id(stack, key))
    store = JobStore(stack["JobsTable"])

    def pages_waiting() -> bool:
        pages = {int(p["page"]): p for p in store.pages(job_id)}
        return pages.get(0, {}).get("status") == "DONE" and int(pages.get(1, {}).get("attempts") or 0) >= 1

    _until("page 0 done and page 1 failing", pages_waiting)
    assert store.get(job_id)["contract"] == started_under

    # a safe change (a nullable column appended) deployed, without the failpoint, while page 1 waits to retry
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    document = json.loads((REPO / "schemas" / "orders.schema.json").read_text())
    document["properties"]["channel"] = {"type": ["string", "null"], "maxLength": 20}
    (schemas / "orders.schema.json").write_text(json.dumps(document, indent=2))
    monkeypatch.setenv("PIPELINE_SCHEMAS_DIR", str(schemas))
    deploy_stage(local_cloud, "e2ecc", Failpoints="", PageMaxReceives="10")
    redeployed = load_contract_file(schemas / "orders.schema.json").fingerprint
    assert redeployed != started_under

    def refused() -> str:
        page = next((p for p in store.pages(job_id) if int(p["page"]) == 1), {})
        error = str(page.get("last_error") or "")
        return error if "changed while this job ran" in error else ""

    error = _until("page 1 refused under the new contract", refused)
    assert f"started under {started_under[:8]}, this code has {redeployed[:8]}" in error
    assert "redrive the job" in error
    job = store.get(job_id)
    assert job["contract_changed"] == redeployed and job["status"] == "PAGING"
    assert not [p for p in store.pages(job_id) if p.get("contract") == redeployed]  # nothing mixed in

    # the operator stops the waiting execution and redrives: the old pages are retired, the file repaged
    aws_clients["stepfunctions"].stop_execution(executionArn=job["execution_arn"], cause="contract changed")
    _until("the execution stopped", lambda: aws_clients["stepfunctions"].describe_execution(
        executionArn=job["execution_arn"])["status"] != "RUNNING", timeout=60)  # fmt: skip
    result = redrive(stack, job_id)
    assert result["action"] == "repaged" and result["pages_retired"] >= 2, result
    done = wait_job(stack, key, timeout=300)

    assert done["status"] == "COMPLETE", done
    assert done["contract"] == redeployed and "contract_changed" not in done
    assert done["rows_input"] == ROWS and done["pages_done"] == done["pages_total"] == 3
    pages = store.pages(job_id)
    assert {p.get("contract") for p in pages} == {redeployed} and {p["status"] for p in pages} == {"DONE"}
    counts = assert_reconciled(stack, job_id)  # S3 rows = valid rows: nothing of the old pages left over
    assert counts["input"] == ROWS and counts["s3_output_rows"] == done["rows_valid"]
