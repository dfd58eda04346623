"""Job states and the keys of job and page items in the jobs table."""

from __future__ import annotations

from typing import cast

from pipeline.runtime.messages import JobItem, JobStatus, JobSummary

__all__ = ["COMPACT_PREFIX", "FINISHED", "JOB_ITEM", "PAGE_PREFIX", "JobStatus", "job_summary", "page_item"]

JOB_ITEM = "JOB"
PAGE_PREFIX = "PAGE#"
COMPACT_PREFIX = "COMPACT#"  # one item per compacted partition of a paged job (ADR 10)


FINISHED = {JobStatus.COMPLETE, JobStatus.FAILED}


def page_item(page: int) -> str:
    """The sort key of page ``page`` of a job."""
    return f"{PAGE_PREFIX}{page:06d}"


def job_summary(job: JobItem) -> JobSummary:
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
    return cast(JobSummary, {k: job.get(k) for k in keys if job.get(k) is not None})
