"""State machine steps that track a paged job: wait for its pages, compact its output, finalise it, record its
failure."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pipeline.runtime.config import Settings
from pipeline.runtime.contract import load_contract
from pipeline.runtime.jobs import JobStatus, JobStore
from pipeline.runtime.jobs.callbacks import fail_waiting_execution, resume_if_complete
from pipeline.runtime.jobs.model import job_summary
from pipeline.runtime.jobs.supersede import complete
from pipeline.runtime.jobs.supersede import fail as fail_job
from pipeline.runtime.messages import CompactStepResult, JobSummary, PageDescriptor
from pipeline.runtime.sinks.catalog import register_partitions


def await_pages(job_id: str, pages_total: int, task_token: str, settings: Settings) -> dict[str, Any]:
    """Store the task token and page total; resume at once if every page is already in."""
    jobs = JobStore(settings.jobs_table)
    job = jobs.update_job(job_id, {"pages_total": int(pages_total), "task_token": task_token})
    failed = [p for p in jobs.pages(job_id) if p.get("status") == "FAILED"]
    if failed:
        cause = f"page {failed[0]['page']} failed: {failed[0].get('last_error', 'unknown error')}"
        fail_waiting_execution(job, "PageFailed", cause)
    else:
        resume_if_complete(job)
    return {"job_id": job_id, "pages_total": pages_total}


def compact_output(job_id: str, settings: Settings, remaining: Callable[[], float]) -> CompactStepResult:
    """The `Compact job output` step (ADR 10): compact the job's output if the stage compacts, within the
    invocation's ``remaining()`` seconds; ``done`` false when it stopped before its deadline (run it again)."""
    if not settings.compact_outputs:  # cheap: no pyarrow, no call
        return {"job_id": job_id, "done": True, "status": "OFF"}
    jobs = JobStore(settings.jobs_table)
    job = jobs.get(job_id) or {}
    if not job.get("dataset") or job.get("status") == JobStatus.COMPLETE:  # a redrive of a finished job
        return {"job_id": job_id, "done": True, "status": str((job.get("compaction") or {}).get("status", "NONE"))}
    from pipeline.runtime.jobs.compaction import Budget, Unfinished, compact  # pyarrow: only where a job compacts

    result = compact(jobs, job_id, load_contract(job["dataset"]), settings, Budget(remaining))
    if isinstance(result, Unfinished):
        return {"job_id": job_id, "done": False, "partitions": result.partitions, "compacted": result.compacted}
    return {
        "job_id": job_id,
        "done": True,
        "status": str(result.get("status")),
        "partitions": int(result.get("partitions") or 0),
    }


def finalise(job_id: str, settings: Settings) -> JobSummary:
    """Register the job's partitions (its compacted files, when `Compact job output` compacted it), mark the job
    COMPLETE and return its summary for the job-completed event."""
    jobs = JobStore(settings.jobs_table)
    register_partitions(settings.glue_database, settings.results_bucket, jobs.output_keys(job_id))
    return job_summary(complete(jobs, job_id, settings.results_bucket))


def readable_error(error: dict[str, Any]) -> tuple[str, str]:
    """The error name and a one-line cause from a Step Functions Catch result."""
    name = str(error.get("Error") or "JobFailed")
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict):
            cause = parsed.get("errorMessage") or parsed.get("Cause") or cause
            name = str(parsed.get("errorType") or name) if name == "States.TaskFailed" else name
    except (TypeError, ValueError):
        pass
    return name, str(cause)[:4000]


def fail(job_id: str, error: dict[str, Any], settings: Settings) -> dict[str, str]:
    """Record a failed execution on its job; returns the error and cause for the Fail state."""
    name, cause = readable_error(error)
    jobs = JobStore(settings.jobs_table)
    job = jobs.get(job_id) or {}
    if job.get("status") != JobStatus.FAILED.value:
        fail_job(jobs, job_id, name, cause, settings.results_bucket)
    else:
        name, cause = str(job.get("error", name)), str(job.get("cause", cause))
    return {"error": name, "cause": cause}


def dead_page(descriptor: PageDescriptor, receive_count: int, settings: Settings) -> None:
    """A page exhausted its retries: mark it and its job FAILED, and fail the waiting execution."""
    jobs = JobStore(settings.jobs_table)
    job_id, page = descriptor["job_id"], int(descriptor["page"])
    item = jobs.mark_page_dead(job_id, page, descriptor)
    cause = (
        f"page {page} (lines from {descriptor.get('first_line')}) failed after {receive_count} attempts: "
        f"{item.get('last_error', 'unknown error')}"
    )
    job = fail_job(jobs, job_id, "PageFailed", cause, settings.results_bucket, {"failed_pages": [page]})
    fail_waiting_execution(job, "PageFailed", cause)
