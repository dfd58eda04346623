"""Job states and the keys of job and page items in the jobs table."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

JOB_ITEM = "JOB"
PAGE_PREFIX = "PAGE#"


class JobStatus(StrEnum):
    """Where a job is: arrived, being processed inline or paged, or finished."""

    RECEIVED = "RECEIVED"
    PROCESSING = "PROCESSING"
    PAGING = "PAGING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


FINISHED = {JobStatus.COMPLETE, JobStatus.FAILED}


def page_item(page: int) -> str:
    """The sort key of page ``page`` of a job."""
    return f"{PAGE_PREFIX}{page:06d}"


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """The fields of a job a subscriber needs."""
    keys = (
        "job_id",
        "dataset",
        "file",
        "status",
        "rows_input",
        "rows_valid",
        "rows_rejected",
        "pages_total",
        "pages_done",
        "duration_s",
        "error",
        "cause",
        "superseded_by",
    )
    return {k: job.get(k) for k in keys if job.get(k) is not None}
