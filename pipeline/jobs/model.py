"""Job states and the keys of job and page items in the jobs table."""

from __future__ import annotations

from enum import StrEnum

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
