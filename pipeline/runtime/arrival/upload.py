"""Handle one uploaded object: resolve its dataset, open its job, then process it inline or start paging."""

from __future__ import annotations

import functools
import json
import time

from botocore.exceptions import ClientError

from pipeline.runtime import aws, failpoints
from pipeline.runtime.arrival.events import ObjectRef
from pipeline.runtime.config import Settings
from pipeline.runtime.contract import (
    Contract,
    ContractChangedError,
    ContractError,
    UnknownDatasetError,
    check_same_contract,
    dataset_for_key,
    load_contract,
)
from pipeline.runtime.errors import TerminalError
from pipeline.runtime.jobs import JobStatus, JobStore
from pipeline.runtime.jobs.model import job_summary
from pipeline.runtime.jobs.supersede import complete, fail
from pipeline.runtime.messages import (
    ExecutionInput,
    JobItem,
    JobMode,
    PageItem,
    PageStatus,
    execution_arn,
    new_cursor,
)
from pipeline.runtime.pages.process import process_oversized, process_page
from pipeline.runtime.paging.inline import inline_pages, open_stream, oversized
from pipeline.runtime.sinks.catalog import register_partitions
from pipeline.runtime.source.objects import get_range
from pipeline.runtime.source.reader import Readable


def is_gzip(key: str) -> bool:
    """Objects whose key ends in `.gz` (any case) are gunzipped as one stream, never paged by byte range."""
    return key.lower().endswith(".gz")


def execution_name(job_id: str, sequence: int = 0) -> str:
    """The state machine execution name of a job (a duplicate event cannot start a second one)."""
    return f"{job_id}-{sequence}"


def _raw(ref: ObjectRef) -> Readable:
    """The object's raw bytes: the exact version that was announced."""
    return get_range(ref.bucket, ref.key, version_id=ref.version_id, etag=ref.etag, start=0)


def handle_upload(ref: ObjectRef, settings: Settings) -> JobItem:
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
        return process_inline(ref, contract, jobs, settings, job)
    except TerminalError as exc:
        return fail(jobs, ref.job_id, type(exc).__name__.removesuffix("Error"), str(exc), settings.results_bucket)
    except Exception as exc:  # recorded so the job never sits in PROCESSING; re-raised so the delivery retries
        fail(jobs, ref.job_id, "ProcessingError", f"{type(exc).__name__}: {exc}", settings.results_bucket)
        raise


def start_paging(ref: ObjectRef, dataset: str, jobs: JobStore, settings: Settings) -> JobItem:
    """Hand a large upload to the batch state machine; the name makes a second start impossible."""
    name = execution_name(ref.job_id)
    payload: ExecutionInput = {
        "job": {
            "job_id": ref.job_id,
            "dataset": dataset,
            "bucket": ref.bucket,
            "key": ref.key,
            "version_id": ref.version_id or "",
            "etag": ref.etag,
            "size": ref.size,
        },
        "cursor": new_cursor(execution=0),
    }
    sfn = aws.client("stepfunctions")
    arn = execution_arn(settings.state_machine_arn, name)
    try:
        arn = sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    except ClientError as exc:
        if aws.error_code(exc) != "ExecutionAlreadyExists":
            raise
    return jobs.update_job(
        ref.job_id,
        {"status": JobStatus.PAGING.value, "mode": JobMode.PAGED.value, "execution_arn": arn},
        add={"executions": {arn}},
    )


def process_inline(
    ref: ObjectRef, contract: Contract, jobs: JobStore, settings: Settings, claimed: JobItem | None = None
) -> JobItem:
    """Process a small (or gzipped) upload in this invocation, page by page as the page processors would;
    pages a retried delivery already finished are skipped.

    ``claimed`` is the job as `JobStore.claim` returned it: on its first attempt no page can be done yet, so
    the pages are not read.
    """
    started = time.perf_counter()
    gzipped = is_gzip(ref.key)
    header, pages = inline_pages(open_stream(lambda: _raw(ref), gzipped, settings), contract, settings)
    read_ms = int((time.perf_counter() - started) * 1000)  # with a .gz file's first pass
    attempts = int((claimed if claimed is not None else jobs.get(ref.job_id) or {}).get("attempts") or 1)
    first = claimed is not None and attempts == 1
    done = {} if first else {int(p["page"]): p for p in jobs.pages(ref.job_id) if p.get("status") == PageStatus.DONE}
    for item in done.values():  # a retried delivery after a redeploy: never mix two layouts in one job (ADR 9)
        try:
            check_same_contract(contract.dataset, item.get("contract"), contract.fingerprint)
        except ContractChangedError:
            jobs.update_job(ref.job_id, {"contract_changed": contract.fingerprint})
            raise
    outputs: set[str] = set()
    total = 0
    with failpoints.attempt(attempts):  # for attempt-limited ones
        for number, (span, body) in enumerate(pages):
            total = number + 1
            if number in done:
                outputs.update(done[number].get("outputs") or {})
                continue
            if span.oversized:
                record = oversized(span, body, settings, gzipped)
                result = process_oversized(record, contract, job_id=ref.job_id, page=number, settings=settings)
            else:
                result = process_page(
                    body,
                    header,
                    contract,
                    job_id=ref.job_id,
                    page=number,
                    first_line=span.first_line,
                    settings=settings,
                    before_write=functools.partial(jobs.note_outputs, ref.job_id, number),
                )
            page_item: PageItem = {**result.as_item(), "contract": contract.fingerprint}
            jobs.record_page(ref.job_id, number, page_item, read_back=False)
            outputs.update(result.outputs)
    job = jobs.update_job(ref.job_id, {"mode": JobMode.INLINE.value, "pages_total": total, "read_ms": read_ms})
    register_partitions(settings.glue_database, settings.results_bucket, sorted(outputs))
    job = complete(jobs, ref.job_id, settings.results_bucket, job)
    publish_job_event(job, settings)
    return job


def publish_job_event(job: JobItem, settings: Settings) -> None:
    """Announce a finished job on the job-events topic."""
    if not settings.job_events_topic_arn:
        return
    aws.client("sns").publish(
        TopicArn=settings.job_events_topic_arn,
        Subject="job-completed",
        Message=json.dumps(job_summary(job), default=str),
    )
