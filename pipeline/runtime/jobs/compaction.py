"""Compact a paged job's output when it completes: one row per primary key across its pages, few files per
partition (docs/adr/0010-compaction-of-paged-jobs.md).

The steps, each safe to repeat (a retried or redriven finalise runs them again and changes nothing):

1. resolve the keys from the pages' key indexes (the last valid row in file order wins);
2. write the superseded rows to the job's rejects (`superseded.csv`), each naming the line that replaced it;
3. make each winner's DynamoDB item equal the winner where a page processed later overwrote it (only items
   this job wrote: a newer upload's items are left alone);
4. per partition, in order: write the compacted files (`part-<job>-c<nnnn>`, deterministic), record them and
   the page files they replace on a `COMPACT#` item, then delete those page files;
5. record the summary on the job and move the superseded rows from its valid count to its rejected count
   (once: the update is conditional), then delete the key indexes.

It runs in its own state machine step (`Compact job output`, the compact function). Given a `Budget` (the
invocation's remaining time), it starts no partition once the time left is under its reserve and returns
`Unfinished`: the step is invoked again and resumes, the finished partitions skipped (their `COMPACT#` items).

Files: one per partition per job while the partition's rows of the job fit in `compact_file_bytes` (128 MiB by
default), else ceil(bytes / that) files. Memory: the key index of the whole job (three short columns per valid
row) and, for each of the `PARTITIONS_AT_ONCE` partitions compacted at a time, one page file and one multipart
part (`PART_BYTES`) of the file being written.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from botocore.exceptions import ClientError

from pipeline.runtime import aws, failpoints
from pipeline.runtime.config import Settings
from pipeline.runtime.contract import Contract
from pipeline.runtime.jobs.store import JobStore, now_iso
from pipeline.runtime.messages import CompactionSummary, JobItem, PageItem
from pipeline.runtime.pages.process import validate_records
from pipeline.runtime.rows.header import parse_header
from pipeline.runtime.rows.parse import Reject, parse_page
from pipeline.runtime.sinks.dynamodb import encode_items
from pipeline.runtime.sinks.key_index import NO_PARTITION, PageIndex, Resolution, key_index_key, resolve
from pipeline.runtime.sinks.layout import REJECTS_PREFIX
from pipeline.runtime.sinks.results import rejects_file
from pipeline.runtime.sinks.text_format import EXTENSION, decode_text
from pipeline.runtime.source.objects import get_range

DONE, SKIPPED = "DONE", "SKIPPED"
PARTITIONS_AT_ONCE = 4  # S3 round trips dominate a many-partition job; memory is per partition in flight
PART_BYTES = 8 << 20  # multipart parts of a compacted file (S3 asks 5 MiB at least, but for the last)
MIN_RESERVE_SECONDS = 30.0  # no partition starts with less time left (nor under twice the slowest one so far)


@dataclass
class Budget:
    """The time an invocation may still spend: ``remaining()`` seconds, from the Lambda context.

    `exhausted` says whether to start no further partition: when the time left is under the reserve, the larger
    of `MIN_RESERVE_SECONDS` and twice the slowest partition so far (the partitions in flight, up to
    `PARTITIONS_AT_ONCE`, still finish), and never before the first. The failpoint `compact-one-partition` ends
    every invocation after one partition, so that tests see the step resume without waiting out a deadline.
    """

    remaining: Callable[[], float]
    slowest: float = 0.0
    started: int = field(default=0, init=False)

    def exhausted(self) -> bool:
        if not self.started:  # every invocation compacts one partition at least, so a loop always ends
            return False
        if failpoints.active("compact-one-partition"):
            return True
        return self.remaining() < max(MIN_RESERVE_SECONDS, 2 * self.slowest)

    def took(self, seconds: float) -> None:
        self.slowest = max(self.slowest, seconds)


@dataclass
class _Clock:
    """Milliseconds spent in each named step, in order."""

    laps: dict[str, int] = field(default_factory=dict)
    last: float = field(default_factory=time.monotonic)

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round((now - self.last) * 1000)
        self.last = now


@dataclass(frozen=True)
class Unfinished:
    """Compaction stopped before its deadline: ``compacted`` of ``partitions`` are done; run it again."""

    partitions: int
    compacted: int


def compacted_key(folder: str, job_id: str, number: int, extension: str = EXTENSION) -> str:
    """The ``number``-th compacted file of a job in a partition folder (`<dataset>/[<name>=<value>/]`)."""
    return f"{folder}part-{job_id}-c{number:04d}{extension}"


def superseded_key(dataset: str, job_id: str) -> str:
    """The job's rejects file of rows superseded by a later row of their key on another page."""
    return f"{REJECTS_PREFIX}/{dataset}/job={job_id}/superseded.csv"


def _folder_and_partition(key: str) -> tuple[str, str]:
    """`ds/dt=2024-01-01/part-...` -> (`ds/dt=2024-01-01/`, `2024-01-01`); `ds/part-...` -> (`ds/`, '')."""
    folder = key.rsplit("/", 1)[0] + "/"
    parts = folder.split("/")
    return folder, (parts[1].split("=", 1)[1] if len(parts) > 2 and "=" in parts[1] else NO_PARTITION)


def _delete(bucket: str, keys: list[str]) -> None:
    s3 = aws.client("s3")
    for i in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True})


def _read(bucket: str, key: str) -> bytes:
    body: bytes = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _page_body(job: JobItem, page: PageItem) -> bytes:
    return get_range(
        job["bucket"],
        job["key"],
        version_id=job.get("version_id"),
        etag=job.get("etag"),
        start=int(page["start"]),
        end=int(page["end"]),
    ).read()


def _header(job: JobItem) -> list[str]:
    cursor = job.get("cursor")
    return parse_header((cursor["header"] if cursor else "").encode("utf-8"))


def superseded_rejects(job: JobItem, pages: dict[int, PageItem], resolution: Resolution) -> list[Reject]:
    """The rejects of the superseded rows, with their original text (each loser's page is read again)."""
    by_page: dict[int, list[int]] = defaultdict(list)
    for line in resolution.superseded:
        by_page[resolution.pages_of[line]].append(line)
    rejects: list[Reject] = []
    for number, lines in sorted(by_page.items()):
        page = pages[number]
        parsed = parse_page(_page_body(job, page), _header(job), first_line=int(page["first_line"]))
        rows = np.searchsorted(parsed.lines, np.asarray(lines, dtype=np.int64))
        for line, row in zip(lines, rows.tolist(), strict=True):
            winner = resolution.superseded[line]
            reason = (
                f"duplicate primary key {decode_text(resolution.keys_of[line])}, superseded by line {winner} "
                f"(on page {resolution.pages_of[winner]})"
            )
            rejects.append(Reject(line, [reason], parsed.raw_text(row)))
    return sorted(rejects, key=lambda r: r.line)


def fix_dynamodb(
    job: JobItem, pages: dict[int, PageItem], resolution: Resolution, contract: Contract, records_table: str
) -> int:
    """Rewrite the winners' items that a page processed later overwrote; return how many were rewritten."""
    if not contract.store_in_dynamodb or not resolution.superseded:
        return 0
    ddb = aws.client("dynamodb")
    winners = sorted(set(resolution.superseded.values()))
    stale: dict[int, list[int]] = defaultdict(list)
    for line in winners:
        key = decode_text(resolution.keys_of[line])
        item = ddb.get_item(TableName=records_table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item", {})
        if item.get("job_id", {}).get("S") == job["job_id"] and int(item.get("line", {}).get("N", -1)) != line:
            stale[resolution.pages_of[line]].append(line)
    fixed = 0
    for number, lines in sorted(stale.items()):
        page = pages[number]
        body = _page_body(job, page)
        validated = validate_records(body, _header(job), contract, first_line=int(page["first_line"]))
        rows = np.flatnonzero(np.isin(validated.lines, np.asarray(lines, dtype=np.int64)))
        table = validated.table.take(pa.array(rows))
        for text in encode_items(table, contract, job["job_id"], validated.lines[rows]).to_pylist():
            try:
                ddb.put_item(
                    TableName=records_table,
                    Item=json.loads(text),
                    ConditionExpression="job_id = :job",
                    ExpressionAttributeValues={":job": {"S": job["job_id"]}},
                )
                fixed += 1
            except ClientError as exc:  # another job wrote the key since: its write stands
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    raise
    return fixed


class _FileWriter:
    """One compacted file written as it fills: a plain PUT when it stays small, else a multipart upload of
    `PART_BYTES` parts, so that memory holds one part, never the file."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket, self.key = bucket, key
        self.buffer: list[bytes] = []
        self.buffered = self.size = self.rows = 0
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []

    def add(self, data: bytes, rows: int) -> None:
        self.buffer.append(data)
        self.buffered += len(data)
        self.size += len(data)
        self.rows += rows
        if self.buffered >= PART_BYTES:
            self._send_part()

    def _send_part(self) -> None:
        s3 = aws.client("s3")
        if self.upload_id is None:
            self.upload_id = s3.create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
        number = len(self.parts) + 1
        etag = s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=b"".join(self.buffer)
        )["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})
        self.buffer.clear()
        self.buffered = 0

    def close(self) -> None:
        s3 = aws.client("s3")
        if self.upload_id is None:
            s3.put_object(Bucket=self.bucket, Key=self.key, Body=b"".join(self.buffer))
            return
        if self.buffered:
            self._send_part()
        s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )


def merge_partition(
    bucket: str,
    job_id: str,
    folder: str,
    sources: list[tuple[str, np.ndarray]],
    max_bytes: int,
    output_format: str = "text",
) -> dict[str, int]:
    """Merge one partition's page files into its compacted files; return compacted key -> rows.

    ``sources`` are the page files' keys in page order, each with the mask of its rows that stay (the rows of a
    file, in its order). This is the one place that knows the output format (text: one record per LF; Parquet:
    `parquet_format.merge_bounded`). A text file ends before the record that would take it past ``max_bytes`` (a
    file holds one record at least), a Parquet file before the page file that would.
    """
    if output_format == "parquet":
        return _merge_parquet(bucket, job_id, folder, sources, max_bytes)
    written: dict[str, int] = {}
    writer: _FileWriter | None = None

    def add(data: bytes, rows: int) -> None:
        nonlocal writer
        if writer is not None and writer.size + len(data) > max_bytes:
            writer.close()
            written[writer.key] = writer.rows
            writer = None
        if writer is None:
            writer = _FileWriter(bucket, compacted_key(folder, job_id, len(written)))
        writer.add(data, rows)

    for key, keep in sources:
        body = _read(bucket, key)
        rows = body.count(b"\n")  # one record per LF: the format writes no other
        if len(keep) != rows:
            raise RuntimeError(f"{key} holds {rows} rows, its page's key index {len(keep)}: not compacted")
        if keep.all() and (writer.size if writer else 0) + len(body) <= max_bytes:
            add(body, rows)  # the usual case: nothing superseded here, and it fits
            continue
        lines = body.split(b"\n")
        kept = [lines[i] + b"\n" for i in np.flatnonzero(keep).tolist()]
        del lines, body
        size = sum(len(line) for line in kept)
        if not kept:
            continue
        if (writer.size if writer else 0) + size <= max_bytes:
            add(b"".join(kept), len(kept))
            continue
        for line in kept:
            add(line, 1)
    if writer is not None:
        writer.close()
        written[writer.key] = writer.rows
    return written


def _merge_parquet(
    bucket: str, job_id: str, folder: str, sources: list[tuple[str, np.ndarray]], max_bytes: int
) -> dict[str, int]:
    from pipeline.runtime.sinks import parquet_format  # pyarrow.parquet only for a Parquet dataset

    def bodies() -> Iterator[tuple[bytes, np.ndarray]]:
        for key, keep in sources:
            body = _read(bucket, key)
            rows = parquet_format.row_count(body)
            if len(keep) != rows:
                raise RuntimeError(f"{key} holds {rows} rows, its page's key index {len(keep)}: not compacted")
            yield body, keep

    written: dict[str, int] = {}
    s3 = aws.client("s3")
    for body, rows in parquet_format.merge_bounded(bodies(), max_bytes):
        key = compacted_key(folder, job_id, len(written), parquet_format.EXTENSION)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        written[key] = rows
    return written


def compact_partition(
    bucket: str,
    job_id: str,
    folder: str,
    partition: str,
    files: list[tuple[int, str]],
    indexes: dict[int, PageIndex],
    resolution: Resolution,
    max_bytes: int,
    output_format: str = "text",
) -> dict[str, int]:
    """Write one partition's compacted files from its page files ``(page, key)``; return key -> rows."""
    sources = [(key, resolution.keep_mask(indexes[page], partition)) for page, key in sorted(files)]
    return merge_partition(bucket, job_id, folder, sources, max_bytes, output_format)


def compact(
    store: JobStore, job_id: str, contract: Contract, settings: Settings, budget: Budget | None = None
) -> CompactionSummary | Unfinished:
    """Compact a paged job's output (the module docstring); return its summary, or `Unfinished` when ``budget``
    ran out first (then call again: it resumes). Safe to repeat."""
    job = store.get(job_id) or {"job_id": job_id}
    bucket = settings.results_bucket
    pages = {int(p["page"]): p for p in store.pages(job_id)}
    index_keys = [key_index_key(contract.dataset, job_id, n) for n in sorted(pages)]  # deterministic names
    if job.get("compaction"):
        _delete(bucket, index_keys)  # a retry after the summary was written
        return job["compaction"]
    if any(p.get("outputs") and not p.get("key_index_key") for p in pages.values()):
        summary: CompactionSummary = {"status": SKIPPED, "finished_at": now_iso()}
        store.update_job(job_id, {"compaction": summary})
        _delete(bucket, index_keys)
        return summary
    clock = _Clock()
    indexes = {
        n: PageIndex.parse(n, _read(bucket, str(pages[n]["key_index_key"])))
        for n in sorted(pages)
        if pages[n].get("key_index_key")
    }
    clock.lap("read_indexes")
    resolution = resolve(indexes.values())
    indexes = {n: index.without_keys() for n, index in indexes.items()}
    clock.lap("resolve")
    rejects_key = superseded_key(contract.dataset, job_id)
    rejects = superseded_rejects(job, pages, resolution)
    if rejects:
        aws.client("s3").put_object(Bucket=bucket, Key=rejects_key, Body=rejects_file(rejects))
    clock.lap("superseded")
    fixed = fix_dynamodb(job, pages, resolution, contract, settings.records_table)
    clock.lap("dynamodb")

    by_folder: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for number, page in pages.items():
        for key in page.get("outputs") or {}:
            by_folder[_folder_and_partition(key)].append((number, key))
    done = {c["partition"]: c for c in store.compactions(job_id)}

    def one_partition(folder: str, partition: str, page_files: list[tuple[int, str]]) -> tuple[int, int, float]:
        started = time.monotonic()
        old = sorted(key for _, key in page_files)
        written = compact_partition(
            bucket,
            job_id,
            folder,
            partition,
            page_files,
            indexes,
            resolution,
            settings.compact_file_bytes,
            contract.output_format,
        )
        store.record_compaction(job_id, folder, written, old)  # before any page file goes
        failpoints.hit("compact-partition")  # recorded, its page files not deleted yet
        _delete(bucket, old)
        return len(written), len(old), time.monotonic() - started

    partitions = sorted(by_folder.items())
    counts: list[tuple[int, int, float]] = []
    finished_before = [(folder, old) for (folder, _), old in partitions if folder in done]
    _delete(bucket, sorted(key for _, old in finished_before for _, key in old))  # again: a run may have stopped
    for folder, old in finished_before:  # between recording a partition and deleting its page files
        counts.append((len(done[folder].get("outputs") or {}), len(old), 0.0))
    todo = iter([(f, p, files) for (f, p), files in partitions if f not in done])
    stopped = False
    with ThreadPoolExecutor(max_workers=PARTITIONS_AT_ONCE) as pool:  # each partition's steps stay in order
        running: set[Future[tuple[int, int, float]]] = set()
        while True:
            while len(running) < PARTITIONS_AT_ONCE and not stopped:
                if budget is not None and budget.exhausted():
                    stopped = True
                    break
                item = next(todo, None)
                if item is None:
                    break
                if budget is not None:
                    budget.started += 1
                folder, partition, page_files = item
                context = contextvars.copy_context()  # the failpoint attempt, in the worker thread
                running.add(pool.submit(context.run, one_partition, folder, partition, page_files))
            if not running:
                break
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                counts.append(future.result())
                if budget is not None:
                    budget.took(counts[-1][2])
    clock.lap("partitions")
    if len(counts) < len(partitions):
        return Unfinished(partitions=len(partitions), compacted=len(counts))
    files, deleted = sum(c[0] for c in counts), sum(c[1] for c in counts)
    summary = {
        "status": DONE,
        "partitions": len(by_folder),
        "files": files,
        "pages_files_deleted": deleted,
        "superseded": len(resolution.superseded),
        "dynamodb_fixed": fixed,  # by this run: a retry finds the items an interrupted one fixed
        "max_file_bytes": settings.compact_file_bytes,
        "timings_ms": clock.laps,  # of the invocation that finished it
        "finished_at": now_iso(),
    }
    if rejects:
        summary["rejects_key"] = rejects_key
    moved = len(resolution.superseded)
    try:
        store.update_job(
            job_id,
            {"compaction": summary},
            add={"rows_valid": -moved, "rows_rejected": moved},
            condition="attribute_not_exists(compaction) AND attribute_exists(#status)",
        )
    except ClientError as exc:
        if aws.error_code(exc) != "ConditionalCheckFailedException":
            raise
    _delete(bucket, index_keys)
    return summary
