"""A job keeps the contract it started with (ADR 9): pager and page worker refuse a redeployed contract, and a
redrive retires the job's pages so the whole file is processed again under the new one."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import make_contract

from pipeline.runtime.config import Settings
from pipeline.runtime.contract import ContractChangedError, check_same_contract
from pipeline.runtime.pages import page_worker
from pipeline.runtime.pages.process import PageResult
from pipeline.runtime.paging import pager
from pipeline.runtime.paging.cutter import PageSpan
from pipeline.tools.operate import redrive

OLD = make_contract({"amount": {"type": "number"}})
NEW = make_contract({"amount": {"type": "number"}, "note": {"type": ["string", "null"]}})


class FakeJobs:
    """The few JobStore calls the code under test makes, in memory."""

    def __init__(self, job: dict[str, Any] | None = None, pages: list[dict[str, Any]] | None = None) -> None:
        self.job: dict[str, Any] = job or {}
        self.page_items = pages or []
        self.failures: list[tuple[int, str]] = []
        self.recorded: list[tuple[int, dict[str, Any]]] = []
        self.deleted: list[int] = []
        self.removed: tuple[str, ...] = ()

    def __call__(self, table: str) -> FakeJobs:  # stands in for the JobStore class
        return self

    def get(self, job_id: str) -> dict[str, Any]:
        return self.job

    def update_job(self, job_id: str, fields: dict[str, Any], *, add=None, remove=(), **_: Any) -> dict[str, Any]:
        self.job.update(fields)
        for name, value in (add or {}).items():
            self.job[name] = self.job.get(name, 0) + value if isinstance(value, int) else value
        for name in remove:
            self.job.pop(name, None)
        self.removed += tuple(remove)
        return self.job

    def mark_contract_changed(self, job_id: str, started_under: str, current: str) -> bool:
        if self.job.get("contract") != started_under:  # the condition DynamoDB checks
            return False
        self.job["contract_changed"] = current
        return True

    def page_done(self, job_id: str, page: int) -> bool:
        return False

    def record_page_failure(self, job_id: str, page: int, error: str) -> None:
        self.failures.append((page, error))

    def record_page(self, job_id: str, page: int, result: dict[str, Any]) -> dict[str, Any]:
        self.recorded.append((page, result))
        return self.job

    def note_outputs(self, job_id: str, page: int, keys: list[str]) -> None:
        pass

    def pages(self, job_id: str) -> list[dict[str, Any]]:
        return self.page_items

    def output_keys(self, job_id: str) -> list[str]:
        keys = {k for p in self.page_items for k in [*(p.get("outputs") or {}), *(p.get("pending_outputs") or [])]}
        return sorted(keys)

    def delete_pages(self, job_id: str, pages: list[int]) -> None:
        self.deleted = pages
        self.page_items = []


def _descriptor(fingerprint: str | None) -> dict[str, Any]:
    descriptor = {"job_id": "j1", "dataset": "things", "bucket": "in", "key": "things/a.csv", "version_id": "v",
                  "etag": "e", "page": 3, "start": 10, "end": 20, "first_line": 2, "header": "id,amount"}  # fmt: skip
    if fingerprint is not None:
        descriptor["contract"] = fingerprint
    return descriptor


@pytest.fixture
def worker(monkeypatch):
    """The page worker with NEW bundled, an in-memory jobs table and a page step that records what it read."""
    jobs = FakeJobs({"job_id": "j1", "contract": OLD.fingerprint})
    processed: list[str] = []
    monkeypatch.setattr(page_worker, "JobStore", jobs)
    monkeypatch.setattr(page_worker, "load_contract", lambda dataset: NEW)
    monkeypatch.setattr(page_worker, "read_range", lambda descriptor, limit=None: b"x,1\n")
    monkeypatch.setattr(page_worker, "resume_if_complete", lambda job: None)

    def process_page(body, header, contract, **_: Any) -> PageResult:
        processed.append(contract.fingerprint)
        return PageResult(rows_input=1, rows_valid=1, rows_rejected=0, outputs={}, rejects_key=None, timings_ms={})

    monkeypatch.setattr(page_worker, "process_page", process_page)
    return jobs, processed


def test_fingerprints_differ_when_the_document_does_and_only_then():
    assert OLD.fingerprint != NEW.fingerprint
    assert make_contract({"amount": {"type": "number"}}).fingerprint == OLD.fingerprint
    check_same_contract("things", OLD.fingerprint, OLD.fingerprint)
    check_same_contract("things", None, OLD.fingerprint)  # a descriptor from before fingerprints
    with pytest.raises(ContractChangedError) as caught:
        check_same_contract("things", OLD.fingerprint, NEW.fingerprint)
    message = str(caught.value)
    assert "dataset things changed while this job ran" in message
    assert f"started under {OLD.fingerprint[:8]}, this code has {NEW.fingerprint[:8]}" in message
    assert "redrive the job" in message


def test_a_page_of_a_job_started_under_another_contract_is_not_processed(worker):
    jobs, processed = worker
    with pytest.raises(ContractChangedError):
        page_worker.process_descriptor(_descriptor(OLD.fingerprint), Settings())
    assert processed == [] and jobs.recorded == []
    assert jobs.failures and jobs.failures[0][0] == 3 and "changed while this job ran" in jobs.failures[0][1]
    assert jobs.job["contract_changed"] == NEW.fingerprint  # a redrive retires the job's pages


def test_a_page_under_its_own_contract_is_processed_and_remembers_the_fingerprint(worker):
    jobs, processed = worker
    jobs.job["contract"] = NEW.fingerprint
    page_worker.process_descriptor(_descriptor(NEW.fingerprint), Settings())
    assert processed == [NEW.fingerprint]
    assert jobs.recorded[0][1]["contract"] == NEW.fingerprint and "contract_changed" not in jobs.job


def test_a_descriptor_without_a_fingerprint_is_processed_as_before(worker):
    jobs, processed = worker
    page_worker.process_descriptor(_descriptor(None), Settings())
    assert processed == [NEW.fingerprint] and jobs.failures == []


def test_a_late_retry_from_before_a_repage_is_dropped(worker):
    jobs, processed = worker
    jobs.job["contract"] = NEW.fingerprint  # the job was repaged under NEW since the descriptor was published
    assert page_worker.process_descriptor(_descriptor(OLD.fingerprint), Settings()) is None
    assert processed == [] and jobs.failures == [] and "contract_changed" not in jobs.job


@pytest.fixture
def paging(monkeypatch):
    """The pager over a 100-byte object cut into one page, with an in-memory jobs table and SNS."""
    jobs = FakeJobs({"job_id": "j1"})
    published: list[list[dict[str, Any]]] = []
    bundled = {"contract": OLD}
    monkeypatch.setattr(pager, "JobStore", jobs)
    monkeypatch.setattr(pager, "load_contract", lambda dataset: bundled["contract"])
    monkeypatch.setattr(pager, "read_header", lambda job: ("id,amount", 10, 2))
    monkeypatch.setattr(pager, "_object_stream", lambda job, start: type("S", (), {"close": lambda self: None})())

    def cut_pages(stream, *, start, first_line, **_: Any):
        yield PageSpan(start=start, end=start + 45, first_line=first_line, next_line=first_line + 3)

    monkeypatch.setattr(pager, "cut_pages", cut_pages)
    monkeypatch.setattr(pager, "publish", lambda descriptors, topic: published.append(descriptors))
    job = {"job_id": "j1", "dataset": "things", "bucket": "in", "key": "things/a.csv", "version_id": "v",
           "etag": "e", "size": 100}  # fmt: skip
    return jobs, published, bundled, job


def test_the_pager_records_the_contract_and_every_descriptor_carries_it(paging):
    from pipeline.runtime.messages import new_cursor

    jobs, published, _, job = paging
    cursor = pager.page_through(job, new_cursor(), Settings())
    assert cursor["contract"] == OLD.fingerprint == jobs.job["contract"]
    assert [d["contract"] for d in published[0]] == [OLD.fingerprint]
    again = pager.page_through(job, cursor, Settings())  # the next iteration, same code
    assert again["contract"] == OLD.fingerprint and len(published) == 2


def test_the_pager_publishes_nothing_after_the_contract_was_redeployed(paging):
    from pipeline.runtime.messages import new_cursor

    jobs, published, bundled, job = paging
    cursor = pager.page_through(job, new_cursor(), Settings())
    bundled["contract"] = NEW  # a deploy replaced the pager's code zip between two iterations
    with pytest.raises(ContractChangedError):
        pager.page_through(job, cursor, Settings())
    assert len(published) == 1 and jobs.job["contract_changed"] == NEW.fingerprint


class FakeS3:
    def __init__(self) -> None:
        self.deleted: list[str] = []

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> None:
        self.deleted += [o["Key"] for o in Delete["Objects"]]


def test_a_redrive_retires_the_pages_written_under_the_old_contract(monkeypatch):
    pages = [
        {"page": 0, "status": "DONE", "outputs": {"things/dt=2026-01-01/j1-000000.txt": 5}, "rejects_key": "r/0.csv",
         "contract": OLD.fingerprint},
        {"page": 1, "status": "FAILED", "pending_outputs": ["things/dt=2026-01-02/j1-000001.txt"]},
    ]  # fmt: skip
    jobs = FakeJobs(
        {"job_id": "j1", "mode": "paged", "status": "FAILED", "contract": OLD.fingerprint,
         "contract_changed": NEW.fingerprint, "rows_input": 5, "pages_done": 1, "cursor": {"header": "id"}},
        pages,
    )  # fmt: skip
    s3 = FakeS3()
    calls: dict[str, Any] = {}
    monkeypatch.setattr(redrive, "JobStore", jobs)
    monkeypatch.setattr(redrive.aws, "client", lambda name: s3)
    monkeypatch.setattr(redrive, "_execution_status", lambda arn: None)

    def redrive_paged(outs, store, job, repage):
        calls.update(repage=repage, cursor=job.get("cursor"))
        return {"job_id": job["job_id"], "action": "repaged", "detail": "paging starts over"}

    monkeypatch.setattr(redrive, "_redrive_paged", redrive_paged)
    result = redrive.redrive({"JobsTable": "t", "ResultsBucket": "out"}, "j1")  # no --repage: it is implied
    assert calls == {"repage": True, "cursor": None}
    assert sorted(s3.deleted) == ["r/0.csv", "things/dt=2026-01-01/j1-000000.txt", "things/dt=2026-01-02/j1-000001.txt"]
    assert jobs.deleted == [0, 1]
    assert jobs.job["rows_input"] == 0 and jobs.job["pages_done"] == 0 and jobs.job["outputs_deleted"] == 3
    assert not {"contract", "contract_changed", "cursor"} & set(jobs.job)
    assert result["pages_retired"] == 2 and "contract changed" in result["detail"]


def test_a_retried_inline_delivery_never_mixes_pages_of_two_contracts(monkeypatch):
    from pipeline.runtime.arrival import upload
    from pipeline.runtime.arrival.events import ObjectRef

    jobs = FakeJobs({"job_id": "j1"}, [{"page": 0, "status": "DONE", "contract": OLD.fingerprint}])
    monkeypatch.setattr(upload, "open_stream", lambda raw, gzipped, settings: None)
    monkeypatch.setattr(upload, "inline_pages", lambda stream, contract, settings: ("id,amount", iter([])))
    ref = ObjectRef("in", "things/a.csv", 10, "e", "v", "01", "2026-01-01T00:00:00.000Z")
    with pytest.raises(ContractChangedError):
        upload.process_inline(ref, NEW, jobs, Settings())  # type: ignore[arg-type]
    assert jobs.job["contract_changed"] == NEW.fingerprint and jobs.recorded == []
