"""Redrive a failed or interrupted job: redo only what did not finish, idempotently, until it completes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.arrival.events import ObjectRef, sqs_event
from pipeline.runtime.errors import PipelineError
from pipeline.runtime.jobs.model import JobStatus
from pipeline.runtime.jobs.store import JobStore, now_iso
from pipeline.runtime.messages import Cursor, ExecutionInput, JobItem, JobRef, new_cursor

UNFINISHED = {JobStatus.RECEIVED, JobStatus.PROCESSING, JobStatus.PAGING}
STUCK_AFTER_S = 1800  # twice the upload processor's timeout: an inline job PROCESSING this long was killed
CLEARED_ON_REDRIVE = ("error", "cause", "failed_pages", "finished_at", "duration_s", "task_token")
_EXECUTION_NUMBER = re.compile(r"-(\d+)$")


class RedriveError(PipelineError):
    """The job cannot be redriven now (it is running, or it does not exist)."""


def _execution_status(arn: str | None) -> str | None:
    if not arn:
        return None
    try:
        return str(aws.client("stepfunctions").describe_execution(executionArn=arn)["status"])
    except ClientError as exc:
        if aws.error_code(exc) == "ExecutionDoesNotExist":
            return None
        raise


def is_interrupted(job: JobItem) -> bool:
    """An unfinished paged job whose execution has ended: nothing will move it on without a redrive."""
    if job.get("status") != JobStatus.PAGING or job.get("mode") != "paged":
        return False
    return _execution_status(job.get("execution_arn")) not in ("RUNNING", None)


def is_stuck_inline(job: JobItem, now: datetime | None = None) -> bool:
    """An inline job PROCESSING for longer than its invocation can run: the processor was killed (out of memory)."""
    if job.get("status") != JobStatus.PROCESSING or job.get("mode") == "paged":
        return False
    started = str(job.get("swept_at") or job.get("started_at") or "")
    try:
        moment = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment <= (now or datetime.now(UTC)) - timedelta(seconds=STUCK_AFTER_S)


def redrive(outs: dict[str, str], job_id: str, *, repage: bool = False) -> dict[str, Any]:
    """Redrive one job and return what was done.

    A paged job gets its FAILED pages republished and a new execution that resumes paging at the stored
    cursor (``repage`` starts paging over from the first page; pages already DONE are skipped by the page
    processors). A job that never reached paging is handed to the upload processor again.
    """
    store = JobStore(outs["JobsTable"])
    job = store.get(job_id)
    if job is None:
        raise RedriveError(f"no job {job_id}")
    if job.get("status") == JobStatus.COMPLETE:
        return {"job_id": job_id, "action": "none", "detail": "the job is already COMPLETE"}
    if job.get("superseded_by"):
        detail = f"a newer upload of the key (job {job['superseded_by']}) replaced this job's output"
        return {"job_id": job_id, "action": "none", "detail": detail}
    if _execution_status(job.get("execution_arn")) == "RUNNING":
        raise RedriveError(f"job {job_id} is still running in {job['execution_arn'].rsplit(':', 1)[-1]}")
    retired = retire_pages(outs, store, job) if job.get("contract_changed") else None
    if job.get("mode") == "paged":
        result = _redrive_paged(outs, store, job, repage or retired is not None)
    else:
        result = _redrive_upload(outs, job)
    if retired is not None:
        result["detail"] = (
            f"the contract changed while the job ran: its {retired['pages']} page(s) and {retired['files']} output "
            f"file(s) were retired and the whole file is processed again under the new contract; {result['detail']}"
        )
        result["pages_retired"] = retired["pages"]
    return result


RESET_ON_RETIRE = {"rows_input": 0, "rows_valid": 0, "rows_rejected": 0, "pages_done": 0, "pages_published": 0}


def retire_pages(outs: dict[str, str], store: JobStore, job: JobItem) -> dict[str, int]:
    """Retire what a job's pages wrote under the contract it started with (ADR 9), as a re-upload retires an
    older version: delete their output and rejects files, forget the pages and zero the job's counts, so that
    repaging processes the whole file under the deployed contract. Returns the pages and files retired."""
    job_id = job["job_id"]
    pages = store.pages(job_id)
    keys = set(store.output_keys(job_id)) | {str(p["rejects_key"]) for p in pages if p.get("rejects_key")}
    s3 = aws.client("s3")
    ordered = sorted(keys)
    for i in range(0, len(ordered), 1000):
        s3.delete_objects(
            Bucket=outs["ResultsBucket"],
            Delete={"Objects": [{"Key": k} for k in ordered[i : i + 1000]], "Quiet": True},
        )
    store.delete_pages(job_id, [int(p["page"]) for p in pages])
    store.update_job(
        job_id,
        {**RESET_ON_RETIRE, "bytes_paged": 0, "paging_done": False},
        add={"outputs_deleted": len(ordered)},
        remove=("contract_changed", "contract", "cursor", "pages_total"),
    )
    job.pop("cursor", None)
    return {"pages": len(pages), "files": len(ordered)}


def job_ref(job: JobItem) -> ObjectRef:
    """The object version a job was opened for (what its S3 notification said)."""
    return ObjectRef(
        bucket=job["bucket"],
        key=job["key"],
        size=int(job.get("size") or 0),
        etag=job.get("etag") or "",
        version_id=job.get("version_id"),
        sequencer=job.get("sequencer"),
        event_time=job.get("event_time") or now_iso(),
    )


def _redrive_upload(outs: dict[str, str], job: JobItem) -> dict[str, Any]:
    """Invoke the upload processor with the job's own notification (same object version, same job id), as the
    uploads queue would deliver it."""
    event = sqs_event(job_ref(job), outs.get("UploadsQueueArn", ""), outs.get("IngestTopicArn", ""), now_iso())
    response = aws.client("lambda").invoke(FunctionName=outs["UploadFunction"], Payload=json.dumps(event).encode())
    payload = response["Payload"].read().decode()
    if response.get("FunctionError"):
        raise RedriveError(f"the upload processor failed again: {lambda_error(payload)}")
    return {"job_id": job["job_id"], "action": "reprocessed", "detail": "the upload processor ran the file again"}


def lambda_error(payload: str) -> str:
    """One line for a failed invocation's payload: its exception lines (Powertools' batch error carries each
    record's traceback in its message), never the tracebacks themselves."""
    try:
        error = json.loads(payload)
    except ValueError:
        return payload.strip().splitlines()[-1][:500] if payload.strip() else "no error message"
    if not isinstance(error, dict):
        return payload.strip()[:500]
    message = str(error.get("errorMessage") or error.get("errorType") or payload)
    blocks = message.split("Traceback (most recent call last):")
    lines = [blocks[0].strip().splitlines()[0]] if blocks[0].strip() else []
    for block in blocks[1:]:
        last = [line.strip() for line in block.strip().splitlines() if line.strip() and not line.startswith(" ")]
        if last:
            lines.append(last[-1])
    return "; ".join(lines)[:500] or "no error message"


def _next_execution_number(job: JobItem) -> int:
    numbers = [int(m.group(1)) for arn in job.get("executions") or [] if (m := _EXECUTION_NUMBER.search(arn))]
    cursor = job.get("cursor")
    return max([*numbers, int(cursor.get("execution", 0)) if cursor else 0]) + 1


def _start_execution(state_machine_arn: str, job: JobItem, cursor: Cursor) -> str:
    """Start the next execution of the job (`<job id>-<n>`), skipping numbers already taken."""
    sfn = aws.client("stepfunctions")
    number = _next_execution_number(job)
    payload_job: JobRef = {
        "job_id": job["job_id"],
        "dataset": job.get("dataset") or "",
        "bucket": job.get("bucket") or "",
        "key": job.get("key") or "",
        "version_id": job.get("version_id") or "",
        "etag": job.get("etag") or "",
        "size": int(job.get("size") or 0),
    }
    for attempt in range(100):
        name = f"{job['job_id']}-{number + attempt}"
        payload: ExecutionInput = {"job": payload_job, "cursor": {**cursor, "execution": number + attempt}}
        try:
            return str(
                sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
                    "executionArn"
                ]
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ExecutionAlreadyExists":
                raise
    raise RedriveError(f"no free execution name for job {job['job_id']}")


def _resume_cursor(job: JobItem, repage: bool) -> Cursor:
    stored = job.get("cursor")
    if repage or not stored or not stored.get("header"):
        return new_cursor()
    return new_cursor(
        offset=stored["offset"],
        page=stored["page"],
        line=stored["line"],
        header=stored["header"],
        contract=stored.get("contract"),
    )


def _redrive_paged(outs: dict[str, str], store: JobStore, job: JobItem, repage: bool) -> dict[str, Any]:
    job_id = job["job_id"]
    failed = [int(p["page"]) for p in store.pages(job_id) if p.get("status") == "FAILED"]
    store.update_job(
        job_id,
        {"status": JobStatus.PAGING.value, "redriven_at": now_iso()},
        add={"redrives": 1},
        remove=CLEARED_ON_REDRIVE,
    )
    descriptors = [d for page in failed if (d := store.reopen_page(job_id, page))]
    if descriptors and not repage:
        from pipeline.runtime.paging.pager import publish

        publish(descriptors, outs["PagesTopicArn"])
    arn = _start_execution(outs["StateMachineArn"], job, _resume_cursor(job, repage))
    store.update_job(job_id, {"execution_arn": arn}, add={"executions": {arn}})
    return {
        "job_id": job_id,
        "action": "repaged" if repage else "redriven",
        "pages_republished": [d["page"] for d in descriptors] if not repage else [],
        "execution": arn.rsplit(":", 1)[-1],
        "detail": (
            "paging starts over; pages already DONE are skipped"
            if repage
            else f"{len(descriptors)} failed page(s) republished; paging resumes at its cursor"
        ),
    }


def recover_interrupted(outs: dict[str, str], *, nothing_running: bool = False) -> list[dict[str, Any]]:
    """Redrive every job that nothing will move on: paged jobs whose execution ended unfinished, inline jobs
    whose processor was killed (PROCESSING for `STUCK_AFTER_S`) and, when ``nothing_running`` (the local cloud
    has just started), uploads caught mid-processing.

    Paging starts over for these jobs, because page messages that were in flight stay invisible for the
    queue's visibility timeout; pages already DONE are skipped.
    """
    store = JobStore(outs["JobsTable"])
    redriven = []
    for job in store.jobs():
        orphaned_upload = nothing_running and job.get("mode") != "paged" and job.get("status") in UNFINISHED
        if orphaned_upload or is_interrupted(job) or is_stuck_inline(job):
            redriven.append(redrive(outs, job["job_id"], repage=True))
    return redriven
