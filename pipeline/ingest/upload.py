"""Handle one uploaded object: resolve its dataset, open its job, then process it inline or start paging."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

from botocore.exceptions import ClientError

from pipeline import aws
from pipeline.config import Settings
from pipeline.contract import ContractError, UnknownDatasetError, dataset_for_key, load_contract
from pipeline.errors import TerminalError
from pipeline.ingest.events import ObjectRef
from pipeline.jobs import JobStatus, JobStore
from pipeline.jobs.model import job_summary
from pipeline.jobs.supersede import complete, fail
from pipeline.process.header import check_header, parse_header
from pipeline.process.page import process_page
from pipeline.process.records import split_header
from pipeline.store.catalog import register_partitions


class EmptyFileError(TerminalError):
    """The object has no bytes, or a header and no rows."""


def is_gzip(key: str) -> bool:
    """Objects whose key ends in `.gz` (any case) are gunzipped whole, never paged by byte range."""
    return key.lower().endswith(".gz")


def execution_name(job_id: str, sequence: int = 0) -> str:
    """The state machine execution name of a job (a duplicate event cannot start a second one)."""
    return f"{job_id}-{sequence}"


def read_object(ref: ObjectRef) -> bytes:
    """The object's bytes (the exact version that was announced), gunzipped if it is `.gz`."""
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
    body = aws.client("s3").get_object(**kwargs)["Body"].read()
    if is_gzip(ref.key):
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise TerminalError(f"the object ends in .gz but is not valid gzip: {exc}") from exc
    return body


def handle_upload(ref: ObjectRef, settings: Settings) -> dict[str, Any]:
    """Process or dispatch one upload; returns the job as it stands afterwards."""
    jobs = JobStore(settings.jobs_table)
    fields = ref.arrival_fields()
    try:
        dataset = dataset_for_key(ref.key)
        fields["dataset"] = dataset
        contract = load_contract(dataset)
    except (UnknownDatasetError, ContractError) as exc:
        if jobs.claim(ref.job_id, fields) is None:
            return jobs.get(ref.job_id) or {}
        return jobs.fail(ref.job_id, type(exc).__name__.removesuffix("Error"), str(exc))
    job = jobs.claim(ref.job_id, fields)
    if job is None:  # a duplicate delivery of an upload that is already paging or finished
        return jobs.get(ref.job_id) or {}
    if ref.size > settings.inline_max_bytes and not is_gzip(ref.key):
        return start_paging(ref, dataset, jobs, settings)
    try:
        return process_inline(ref, contract, jobs, settings)
    except TerminalError as exc:
        return fail(jobs, ref.job_id, type(exc).__name__.removesuffix("Error"), str(exc), settings.results_bucket)
    except Exception as exc:  # recorded so the job never sits in PROCESSING; re-raised so the delivery retries
        fail(jobs, ref.job_id, "ProcessingError", f"{type(exc).__name__}: {exc}", settings.results_bucket)
        raise


def start_paging(ref: ObjectRef, dataset: str, jobs: JobStore, settings: Settings) -> dict[str, Any]:
    """Hand a large upload to the batch state machine; the name makes a second start impossible."""
    name = execution_name(ref.job_id)
    payload = {
        "job": {
            "job_id": ref.job_id,
            "dataset": dataset,
            "bucket": ref.bucket,
            "key": ref.key,
            "version_id": ref.version_id or "",
            "etag": ref.etag,
            "size": ref.size,
        },
        "cursor": {
            "offset": 0,
            "page": 0,
            "line": 1,
            "header": "",
            "done": False,
            "continue_in_new_execution": False,
            "iteration": 0,
            "execution": 0,
        },
    }
    sfn = aws.client("stepfunctions")
    arn = f"{settings.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
    try:
        arn = sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
            raise
    return jobs.update_job(
        ref.job_id, {"status": JobStatus.PAGING.value, "mode": "paged", "execution_arn": arn}, add={"executions": {arn}}
    )


def process_inline(ref: ObjectRef, contract: Any, jobs: JobStore, settings: Settings) -> dict[str, Any]:
    """Process a small upload in this invocation as page 0 of its job."""
    started = time.perf_counter()
    body = read_object(ref)
    if not body.strip():
        raise EmptyFileError("the file is empty")
    raw_header, data_start = split_header(body)
    header = check_header(parse_header(raw_header), contract)
    data = body[data_start:]
    if not data.strip():
        raise EmptyFileError("the file has a header but no rows")
    header_lines = raw_header.count(b"\n") + 1
    result = process_page(
        data,
        header,
        contract,
        job_id=ref.job_id,
        page=0,
        first_line=1 + header_lines,
        settings=settings,
        before_write=lambda keys: jobs.note_outputs(ref.job_id, 0, keys),
    )
    jobs.update_job(
        ref.job_id, {"mode": "inline", "pages_total": 1, "read_ms": int((time.perf_counter() - started) * 1000)}
    )
    jobs.record_page(ref.job_id, 0, result.as_item())
    register_partitions(settings.glue_database, settings.results_bucket, list(result.outputs))
    job = complete(jobs, ref.job_id, settings.results_bucket)
    publish_job_event(job, settings)
    return job


def publish_job_event(job: dict[str, Any], settings: Settings) -> None:
    """Announce a finished job on the job-events topic."""
    if not settings.job_events_topic_arn:
        return
    aws.client("sns").publish(
        TopicArn=settings.job_events_topic_arn,
        Subject="job-completed",
        Message=json.dumps(job_summary(job), default=str),
    )
