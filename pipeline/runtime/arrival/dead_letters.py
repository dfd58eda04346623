"""The uploads dead-letter queue: a notification the upload processor never finished marks its job FAILED."""

from __future__ import annotations

from pipeline.runtime.arrival.events import ObjectRef
from pipeline.runtime.config import Settings
from pipeline.runtime.jobs import JobStatus, JobStore
from pipeline.runtime.jobs.supersede import fail
from pipeline.runtime.messages import JobItem

LEFT_ALONE = {JobStatus.COMPLETE, JobStatus.FAILED, JobStatus.PAGING}


def dead_upload(ref: ObjectRef, settings: Settings) -> JobItem:
    """Mark the upload's job FAILED with a readable cause, unless it finished or is paging after all.

    A job the processor already failed keeps its own error; one it was killed in the middle of (out of memory,
    timeout) or never reached says so. `pipeline redrive JOB` processes it again once the cause is fixed.
    """
    jobs = JobStore(settings.jobs_table)
    job = jobs.get(ref.job_id) or jobs.record_arrival(ref.job_id, ref.arrival_fields())
    if job.get("status") in LEFT_ALONE:
        return job
    attempts = int(job.get("attempts") or 0)
    what = (
        f"started it {attempts} time{'s' if attempts != 1 else ''} and never finished (killed, timed out or out "
        "of memory)"
        if attempts
        else "never started it (its notification could not be delivered)"
    )
    cause = (
        f"the upload processor {what}; its notification reached the uploads dead-letter queue. See the "
        f"processor's log, then run `pipeline redrive {ref.job_id}`"
    )
    return fail(jobs, ref.job_id, "UploadNotProcessed", cause, settings.results_bucket)
