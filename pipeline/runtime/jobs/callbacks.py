"""Resume or fail the state machine execution that waits on a job's pages (task-token callbacks)."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.messages import JobItem

GONE_TOKEN_ERRORS = {"TaskDoesNotExist", "InvalidToken", "TaskTimedOut"}


def resume_if_complete(job: JobItem) -> bool:
    """Send the waiting execution its task success when every page is counted; True if this call sent it."""
    token, total = job.get("task_token"), job.get("pages_total")
    if not token or total is None or int(job.get("pages_done", 0)) < int(total):
        return False
    try:
        aws.client("stepfunctions").send_task_success(
            taskToken=token, output=json.dumps({"pages_done": int(job.get("pages_done", 0))})
        )
    except ClientError as exc:
        if aws.error_code(exc) in GONE_TOKEN_ERRORS:
            return False
        raise
    return True


def fail_waiting_execution(job: JobItem, error: str, cause: str) -> None:
    """Fail the execution waiting on this job, if any."""
    token = job.get("task_token")
    if not token:
        return
    try:
        aws.client("stepfunctions").send_task_failure(taskToken=token, error=error, cause=cause[:32000])
    except ClientError as exc:
        if aws.error_code(exc) not in GONE_TOKEN_ERRORS:
            raise
