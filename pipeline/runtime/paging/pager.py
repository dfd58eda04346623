"""The pager step: publish the next pages of a large upload and return the advanced cursor."""

from __future__ import annotations

import json
from typing import Any

from pipeline.runtime import aws, failpoints
from pipeline.runtime.config import Settings
from pipeline.runtime.contract import ContractChangedError, check_same_contract, load_contract
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.messages import Cursor, JobRef, PageDescriptor
from pipeline.runtime.paging.cutter import cut_pages
from pipeline.runtime.rows.header import check_header, parse_header
from pipeline.runtime.rows.records import count_line_breaks, split_header
from pipeline.runtime.source.objects import get_range

HEADER_PROBE = 1 << 20


def _object_stream(job: JobRef, start: int) -> Any:
    return get_range(job["bucket"], job["key"], version_id=job.get("version_id"), etag=job.get("etag"), start=start)


def read_header(job: JobRef) -> tuple[str, int, int]:
    """The header text, the byte offset where data starts and the line it starts on; checked against the schema."""
    stream = _object_stream(job, 0)
    try:
        probe = stream.read(HEADER_PROBE)
    finally:
        stream.close()
    raw, data_start = split_header(probe)
    check_header(parse_header(raw), load_contract(job["dataset"]))
    return raw.decode("utf-8-sig"), data_start, count_line_breaks(probe[:data_start]) + 1


def publish(descriptors: list[PageDescriptor], topic_arn: str) -> None:
    """Publish page descriptors, ten per request."""
    sns = aws.client("sns")
    for i in range(0, len(descriptors), 10):
        batch = descriptors[i : i + 10]
        response = sns.publish_batch(
            TopicArn=topic_arn,
            PublishBatchRequestEntries=[{"Id": str(n), "Message": json.dumps(d)} for n, d in enumerate(batch)],
        )
        if response.get("Failed"):
            raise RuntimeError(f"SNS refused {len(response['Failed'])} page descriptors: {response['Failed'][0]}")


def page_through(
    job: JobRef, cursor: Cursor, settings: Settings, execution_arn: str | None = None
) -> Cursor:
    """Publish up to `pages_per_iteration` pages from ``cursor``; return the next cursor.

    The cursor and the execution are kept on the job, so `pipeline redrive` can resume paging where an
    interrupted execution stopped. The first iteration records the fingerprint of the contract the header was
    checked against; a later one that finds another contract bundled (a redeploy) publishes nothing and fails
    with `ContractChangedError` (ADR 9).
    """
    cursor = cursor.copy()
    fingerprint = load_contract(job["dataset"]).fingerprint
    if not cursor.get("header"):
        header, offset, line = read_header(job)
        cursor.update({"header": header, "offset": offset, "line": line, "contract": fingerprint})
    try:
        check_same_contract(job["dataset"], cursor.get("contract"), fingerprint)
    except ContractChangedError:
        JobStore(settings.jobs_table).update_job(job["job_id"], {"contract_changed": fingerprint})
        raise
    size = int(job["size"])
    descriptors: list[PageDescriptor] = []
    next_offset, next_line = int(cursor["offset"]), int(cursor["line"])
    if next_offset < size:
        stream = _object_stream(job, next_offset)
        try:
            for span in cut_pages(
                stream,
                start=next_offset,
                first_line=next_line,
                rows=settings.page_rows,
                limit=settings.pages_per_iteration,
                max_bytes=settings.page_max_bytes,
                record_max=settings.record_max_bytes,
            ):
                page = int(cursor["page"]) + len(descriptors)
                descriptor: PageDescriptor = {
                    "job_id": job["job_id"],
                    "dataset": job["dataset"],
                    "bucket": job["bucket"],
                    "key": job["key"],
                    "version_id": job.get("version_id") or "",
                    "etag": job.get("etag") or "",
                    "page": page,
                    "start": span.start,
                    "end": span.end,
                    "first_line": span.first_line,
                    "header": cursor["header"],
                    "contract": cursor.get("contract") or "",
                }
                if span.oversized:  # one record over the limit: its page processor rejects it unread
                    descriptor.update(
                        {
                            "oversized": True,
                            "last_line": span.last_line,
                            "unterminated": span.unterminated,
                            "record_max": settings.record_max_bytes,
                        }
                    )
                descriptors.append(descriptor)
                next_offset, next_line = span.end, span.next_line
        finally:
            stream.close()
    if descriptors:
        publish(descriptors, settings.pages_topic_arn)
        failpoints.hit("after-publish", int(cursor["page"]))
    done = next_offset >= size
    iteration = int(cursor.get("iteration", 0)) + 1
    cursor.update(
        {
            "offset": next_offset,
            "line": next_line,
            "page": int(cursor["page"]) + len(descriptors),
            "done": done,
            "iteration": iteration,
            "continue_in_new_execution": not done and iteration >= settings.iterations_per_execution,
        }
    )
    progress = {"pages_published": cursor["page"], "bytes_paged": next_offset, "paging_done": done, "cursor": cursor}
    if cursor.get("contract"):
        progress["contract"] = cursor["contract"]
    executions: dict[str, int | set[str]] | None = {"executions": {execution_arn}} if execution_arn else None
    JobStore(settings.jobs_table).update_job(
        job["job_id"], progress | ({"execution_arn": execution_arn} if execution_arn else {}), add=executions
    )
    return cursor
