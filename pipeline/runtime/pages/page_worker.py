"""The page-processor step: process one page descriptor and resume the execution after the last page."""

from __future__ import annotations

from pipeline.runtime import failpoints
from pipeline.runtime.config import Settings
from pipeline.runtime.contract import Contract, check_same_contract, load_contract
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.jobs.callbacks import resume_if_complete
from pipeline.runtime.messages import JobItem, PageDescriptor
from pipeline.runtime.pages.process import Oversized, process_oversized, process_page
from pipeline.runtime.paging.cutter import PREVIEW_BYTES
from pipeline.runtime.rows.header import parse_header
from pipeline.runtime.source.objects import get_range


def read_range(descriptor: PageDescriptor, limit: int | None = None) -> bytes:
    """The bytes of one page (its first ``limit`` only, if given), read with a ranged GET of the announced
    object version."""
    start, end = int(descriptor["start"]), int(descriptor["end"])
    body = get_range(
        descriptor["bucket"],
        descriptor["key"],
        version_id=descriptor.get("version_id"),
        etag=descriptor.get("etag"),
        start=start,
        end=end if limit is None else min(end, start + limit),
    )
    return body.read()


def oversized_record(descriptor: PageDescriptor) -> Oversized:
    """The one record of an oversized page, with only its first bytes read."""
    return Oversized(
        start=int(descriptor["start"]),
        end=int(descriptor["end"]),
        first_line=int(descriptor["first_line"]),
        last_line=int(descriptor["last_line"]),
        limit=int(descriptor["record_max"]),
        preview=read_range(descriptor, PREVIEW_BYTES),
        unterminated=bool(descriptor.get("unterminated")),
    )


def refuse_other_contract(descriptor: PageDescriptor, contract: Contract, jobs: JobStore) -> bool:
    """Whether the page must not be processed under this code's ``contract`` (ADR 9).

    A descriptor published under another contract fails with `ContractChangedError` after marking its job
    `contract_changed` (so a redrive retires the job's pages); the page is retried as any failed page is (a
    deploy updates the functions one after another, so the retry may meet the job's contract again) and then
    dead-lettered. True (drop it, a duplicate) when the job has been repaged under another contract since.
    """
    started = descriptor.get("contract")
    if not started or started == contract.fingerprint:
        return False
    if not jobs.mark_contract_changed(descriptor["job_id"], started, contract.fingerprint):
        return True
    check_same_contract(descriptor["dataset"], started, contract.fingerprint)  # raises ContractChangedError
    return False


def process_descriptor(descriptor: PageDescriptor, settings: Settings, attempt: int = 1) -> JobItem | None:
    """Process one page exactly once in effect; returns the job after counting, or None for a duplicate.

    ``attempt`` is the delivery's receive count (attempt-limited failpoints use it).
    """
    jobs = JobStore(settings.jobs_table)
    job_id, page = descriptor["job_id"], int(descriptor["page"])
    if jobs.page_done(job_id, page):  # a duplicate delivery, or a page republished by a redrive
        return None
    try:
        contract = load_contract(descriptor["dataset"])
        if refuse_other_contract(descriptor, contract, jobs):
            return None
        with failpoints.attempt(attempt):
            if descriptor.get("oversized"):
                record = oversized_record(descriptor)
                result = process_oversized(record, contract, job_id=job_id, page=page, settings=settings)
            else:
                result = process_page(
                    read_range(descriptor),
                    parse_header(descriptor["header"].encode("utf-8")),
                    contract,
                    job_id=job_id,
                    page=page,
                    first_line=int(descriptor["first_line"]),
                    settings=settings,
                    before_write=lambda keys: jobs.note_outputs(job_id, page, keys),
                    key_index=bool(settings.compact_outputs),
                )
    except Exception as exc:
        jobs.record_page_failure(job_id, page, f"{type(exc).__name__}: {exc}")
        raise
    job = jobs.record_page(
        job_id,
        page,
        {
            **result.as_item(),
            "start": descriptor["start"],
            "end": descriptor["end"],
            "first_line": descriptor["first_line"],
            "contract": contract.fingerprint,
        },
    )
    if job is not None:
        resume_if_complete(job)
    return job
