"""The page-processor step: process one page descriptor and resume the execution after the last page."""

from __future__ import annotations

from typing import Any

from pipeline import failpoints
from pipeline.config import Settings
from pipeline.contract import load_contract
from pipeline.jobs import JobStore
from pipeline.jobs.callbacks import resume_if_complete
from pipeline.process.header import parse_header
from pipeline.process.page import process_page
from pipeline.store.objects import get_range


def read_range(descriptor: dict[str, Any]) -> bytes:
    """The bytes of one page, read with a ranged GET of the announced object version."""
    body = get_range(
        descriptor["bucket"],
        descriptor["key"],
        version_id=descriptor.get("version_id"),
        etag=descriptor.get("etag"),
        start=int(descriptor["start"]),
        end=int(descriptor["end"]),
    )
    return body.read()


def process_descriptor(descriptor: dict[str, Any], settings: Settings, attempt: int = 1) -> dict[str, Any] | None:
    """Process one page exactly once in effect; returns the job after counting, or None for a duplicate.

    ``attempt`` is the delivery's receive count (attempt-limited failpoints use it).
    """
    jobs = JobStore(settings.jobs_table)
    job_id, page = descriptor["job_id"], int(descriptor["page"])
    if jobs.page_done(job_id, page):  # a duplicate delivery, or a page republished by a redrive
        return None
    try:
        with failpoints.attempt(attempt):
            contract = load_contract(descriptor["dataset"])
            header = parse_header(descriptor["header"].encode("utf-8"))
            body = read_range(descriptor)
            result = process_page(
                body,
                header,
                contract,
                job_id=job_id,
                page=page,
                first_line=int(descriptor["first_line"]),
                settings=settings,
                before_write=lambda keys: jobs.note_outputs(job_id, page, keys),
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
        },
    )
    if job is not None:
        resume_if_complete(job)
    return job
