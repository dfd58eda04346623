"""Handle one uploaded object: resolve its dataset, open its job, then process it inline or start paging."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, BinaryIO

from botocore.exceptions import ClientError

from pipeline import aws
from pipeline.config import Settings
from pipeline.contract import ContractError, UnknownDatasetError, dataset_for_key, load_contract
from pipeline.errors import TerminalError
from pipeline.ingest.events import ObjectRef
from pipeline.ingest.reader import HEAD_BYTES, GzipLimits, PieceReader, followed_by, gunzip, measure, read_head
from pipeline.jobs import JobStatus, JobStore
from pipeline.jobs.model import job_summary
from pipeline.jobs.supersede import complete
from pipeline.pages.cutter import read_pages
from pipeline.process.header import check_header, parse_header
from pipeline.process.page import Oversized, process_oversized, process_page
from pipeline.process.records import count_line_breaks, split_header
from pipeline.store.catalog import register_partitions
from pipeline.store.objects import get_range


class EmptyFileError(TerminalError):
    """The object has no bytes, or a header and no rows."""


def is_gzip(key: str) -> bool:
    """Objects whose key ends in `.gz` (any case) are gunzipped as one stream, never paged by byte range."""
    return key.lower().endswith(".gz")


def execution_name(job_id: str, sequence: int = 0) -> str:
    """The state machine execution name of a job (a duplicate event cannot start a second one)."""
    return f"{job_id}-{sequence}"


def open_object(ref: ObjectRef, settings: Settings) -> BinaryIO:
    """A stream of the object's bytes (the exact version that was announced), gunzipped if it is `.gz`.

    A `.gz` object is first gunzipped once without keeping anything, so a file past the limits fails before
    a single row is written.
    """
    if not is_gzip(ref.key):
        return _raw(ref)
    limits = GzipLimits(settings.gzip_max_bytes, settings.gzip_max_ratio)
    measure(_raw(ref), limits)
    return PieceReader(gunzip(_raw(ref), limits))


def _raw(ref: ObjectRef) -> BinaryIO:
    return get_range(ref.bucket, ref.key, version_id=ref.version_id, etag=ref.etag, start=0)


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
        return jobs.fail(ref.job_id, type(exc).__name__.removesuffix("Error"), str(exc))
    except Exception as exc:  # recorded so the job never sits in PROCESSING; re-raised so the delivery retries
        jobs.fail(ref.job_id, "ProcessingError", f"{type(exc).__name__}: {exc}")
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
    """Process a small (or gzipped) upload in this invocation, page by page as the page processors would;
    pages a retried delivery already finished are skipped."""
    started = time.perf_counter()
    stream = open_object(ref, settings)
    head = read_head(stream)
    if not head.strip() and len(head) < HEAD_BYTES:
        raise EmptyFileError("the file is empty")
    raw_header, data_start = split_header(head)
    header = check_header(parse_header(raw_header), contract)
    read_ms = int((time.perf_counter() - started) * 1000)  # with a .gz file's first pass
    pages = read_pages(
        followed_by(head[data_start:], stream),
        start=data_start,
        first_line=1 + count_line_breaks(head[:data_start]),
        rows=settings.page_rows,
        max_bytes=settings.page_max_bytes,
        record_max=settings.record_max_bytes,
    )
    first = next(pages, None)
    if first is None or (not first[0].oversized and not first[1].strip() and next(pages, None) is None):
        raise EmptyFileError("the file has a header but no rows")
    done = {int(p["page"]): p for p in jobs.pages(ref.job_id) if p.get("status") == "DONE"}
    outputs: set[str] = set()
    total = 0
    for number, (span, body) in enumerate(itertools.chain([first], pages)):
        total = number + 1
        if number in done:
            outputs.update(done[number].get("outputs") or {})
            continue
        if span.oversized:
            source = "gunzipped file" if is_gzip(ref.key) else "raw file"
            record = Oversized(
                span.start, span.end, span.first_line, span.last_line, settings.record_max_bytes, body,
                unterminated=span.unterminated, source=source,
            )  # fmt: skip
            result = process_oversized(record, contract, job_id=ref.job_id, page=number, settings=settings)
        else:
            result = process_page(
                body, header, contract, job_id=ref.job_id, page=number, first_line=span.first_line, settings=settings
            )
        jobs.record_page(ref.job_id, number, result.as_item())
        outputs.update(result.outputs)
    jobs.update_job(ref.job_id, {"mode": "inline", "pages_total": total, "read_ms": read_ms})
    register_partitions(settings.glue_database, settings.results_bucket, sorted(outputs))
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
