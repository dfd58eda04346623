"""Jobs as the console shows them: one row per job with its page progress, and one job in detail."""

from __future__ import annotations

from typing import Any

from pipeline.runtime.jobs.model import JobStatus
from pipeline.runtime.messages import JobItem, PageItem

ROW_FIELDS = (
    "job_id",
    "key",
    "bucket",
    "dataset",
    "status",
    "mode",
    "rows_input",
    "rows_valid",
    "rows_rejected",
    "duration_s",
    "received_at",
    "started_at",
    "finished_at",
    "error",
    "cause",
)
HIDDEN_FIELDS = ("task_token", "cursor")


def progress(job: JobItem) -> dict[str, Any]:
    """Pages done of total and a percentage; below 100 until the job is COMPLETE.

    While the pager still publishes, the total is the pages published so far, so the percentage is capped.
    """
    done = int(job.get("pages_done") or 0)
    final = job.get("pages_total")
    total = int(final or job.get("pages_published") or 0)
    if job.get("status") == JobStatus.COMPLETE.value:
        percent = 100
    elif total:
        percent = min(done * 100 // total, 99)
    else:
        percent = 0
    return {"done": done, "total": total or None, "final": final is not None, "percent": percent}


def job_row(job: JobItem) -> dict[str, Any]:
    """The fields of one row of the jobs table."""
    row = {k: job.get(k) for k in ROW_FIELDS}
    row["file"] = str(job.get("key") or job.get("file") or "").rsplit("/", 1)[-1]
    row["progress"] = progress(job)
    return row


def visible(job: JobItem) -> dict[str, Any]:
    """The job item without its task token and paging cursor."""
    return {k: v for k, v in job.items() if k not in HIDDEN_FIELDS}


def outputs(pages: list[PageItem]) -> dict[str, int]:
    """Every output object of a job's pages with the rows it holds."""
    found: dict[str, int] = {}
    for page in pages:
        for key, rows in (page.get("outputs") or {}).items():
            found[key] = found.get(key, 0) + int(rows or 0)
    return dict(sorted(found.items()))
