"""Process one page of records: parse, validate, write S3 outputs and DynamoDB items, report counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa

from pipeline.runtime import failpoints
from pipeline.runtime.config import Settings
from pipeline.runtime.contract import Contract
from pipeline.runtime.messages import PageItem
from pipeline.runtime.rows.parse import Reject, parse_page
from pipeline.runtime.rows.store_rules import apply_store_rules
from pipeline.runtime.rows.validate import ValidatedPage, validate_page
from pipeline.runtime.sinks.dynamodb import encode_items, write_items
from pipeline.runtime.sinks.results import write_page


@dataclass
class PageResult:
    """What one page produced: counts, per-stage timings in ms and the objects written."""

    rows_input: int
    rows_valid: int
    rows_rejected: int
    outputs: dict[str, int]
    rejects_key: str | None
    timings_ms: dict[str, int] = field(default_factory=dict)
    key_index_key: str | None = None

    def as_item(self) -> PageItem:
        return {
            "rows_input": self.rows_input,
            "rows_valid": self.rows_valid,
            "rows_rejected": self.rows_rejected,
            "outputs": self.outputs,
            "rejects_key": self.rejects_key,
            "timings_ms": self.timings_ms,
            "key_index_key": self.key_index_key,
        }


def validate_records(
    body: bytes, header: list[str], contract: Contract, *, first_line: int, timings: dict[str, int] | None = None
) -> ValidatedPage:
    """What a page keeps and rejects before anything is written: parse, validate, store rules.

    `process_page` and `pipeline schema check` (which runs a local file through it, page by page) share it.
    """
    timings = {} if timings is None else timings
    t = time.perf_counter()
    parsed = parse_page(body, header, first_line=first_line)
    timings["parse"] = int((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    validated = apply_store_rules(validate_page(parsed, contract), parsed, contract)
    timings["validate"] = int((time.perf_counter() - t) * 1000)
    return validated


def process_page(
    body: bytes,
    header: list[str],
    contract: Contract,
    *,
    job_id: str,
    page: int,
    first_line: int,
    settings: Settings,
    before_write: Callable[[list[str]], None] | None = None,
    key_index: bool = False,
) -> PageResult:
    """Turn the data records in ``body`` into stored rows and rejects; safe to repeat (same keys, upserts).

    ``key_index`` also writes the page's key index, which the job's compaction resolves keys across pages with.
    """
    timings: dict[str, int] = {}
    validated = validate_records(body, header, contract, first_line=first_line, timings=timings)

    if contract.store_in_dynamodb and validated.table.num_rows:
        t = time.perf_counter()
        items = encode_items(validated.table, contract, job_id, validated.lines)
        timings["transform"] = int((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        write_items(settings.records_table, items, settings.dynamodb_writers)
        timings["dynamodb_write"] = int((time.perf_counter() - t) * 1000)
    failpoints.hit("after-dynamodb", page)

    t = time.perf_counter()
    written = write_page(
        settings.results_bucket,
        contract,
        job_id,
        page,
        validated.table,
        validated.rejects,
        before_write,
        validated.lines if key_index else None,
    )
    timings["s3_write"] = int((time.perf_counter() - t) * 1000)
    failpoints.hit("after-s3", page)
    return PageResult(
        rows_input=validated.input_rows,
        rows_valid=validated.table.num_rows,
        rows_rejected=len(validated.rejects),
        outputs=written["outputs"],  # type: ignore[arg-type]
        rejects_key=written["rejects_key"],  # type: ignore[arg-type]
        timings_ms=timings,
        key_index_key=written["key_index_key"],  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Oversized:
    """One record longer than the record limit: where it is in the file, and its first bytes."""

    start: int
    end: int
    first_line: int
    last_line: int
    limit: int
    preview: bytes
    unterminated: bool = False
    source: str = "raw file"  # what the byte offsets count in ("gunzipped file" for .gz uploads)

    def reject(self) -> Reject:
        """The record's reject: its size, lines and byte range in the file, and only its first bytes."""
        first, last = self.first_line, self.last_line
        lines = f"line {first}" if first == last else f"lines {first}-{last}"
        why = "record too large (a quoted field never closes)" if self.unterminated else "record too large"
        reason = (  # no "; " inside: a rejects file joins a record's reasons with it
            f"{why}: {self.end - self.start:,} bytes, the limit is {self.limit:,}, so it is not parsed and only its "
            f"first {len(self.preview):,} bytes are kept here ({lines}, bytes {self.start:,}-{self.end - 1:,} of "
            f"the {self.source})"
        )
        text = self.preview.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
        return Reject(first, [reason], text)


def process_oversized(
    record: Oversized, contract: Contract, *, job_id: str, page: int, settings: Settings
) -> PageResult:
    """A page that is one oversized record: write its reject, nothing else (it is never read whole)."""
    t = time.perf_counter()
    written = write_page(settings.results_bucket, contract, job_id, page, pa.table({}), [record.reject()])
    return PageResult(
        rows_input=1,
        rows_valid=0,
        rows_rejected=1,
        outputs=written["outputs"],  # type: ignore[arg-type]
        rejects_key=written["rejects_key"],  # type: ignore[arg-type]
        timings_ms={"s3_write": int((time.perf_counter() - t) * 1000)},
    )
