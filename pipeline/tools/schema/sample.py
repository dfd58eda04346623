"""Read a sample of a CSV file with bounded memory: its first rows and blocks spread through the rest.

The head is cut by the pager's own cutter and parsed by the page parser, so it is read exactly as the
pipeline reads it. A spread block starts at an arbitrary byte offset, where the quote state is unknown: the
block is taken from the first of its first newlines after which every record has the header's number of
fields (speculative resynchronisation, as parallel CSV readers do); the last, possibly cut, record is dropped.
A block where no start fits is skipped and counted. Memory holds the sample, one window and one chunk.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from pipeline.runtime.arrival.upload import is_gzip
from pipeline.runtime.errors import TerminalError
from pipeline.runtime.paging.cutter import cut_pages
from pipeline.runtime.rows.header import parse_header
from pipeline.runtime.rows.parse import Reject, parse_page
from pipeline.runtime.rows.records import scan_records, split_header

HEADER_PROBE = 1 << 20
CANDIDATE_STARTS = 64
HEAD_PAGE_ROWS = 50_000  # newlines tried as the start of a spread block


class SampleError(TerminalError):
    """The file cannot be sampled: empty, header only, not UTF-8 CSV text."""


@dataclass
class Sample:
    """Header names, sampled rows as strings, records that did not parse, and how much of the file was seen."""

    header: list[str]
    table: pa.Table
    lines: np.ndarray  # line of each head row; 0 for spread rows (their line is not known without reading it all)
    rejects: list[Reject] = field(default_factory=list)
    size: int = 0
    head_rows: int = 0
    spread_rows: int = 0
    spread_blocks: int = 0
    skipped_blocks: int = 0
    complete: bool = False  # the head is the whole file
    bytes_per_row: float = 0.0

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def estimated_rows(self) -> int:
        """Rows in the whole file: exact when the head covered it, else estimated from the head's bytes per row."""
        if self.complete:
            return self.head_rows + len([r for r in self.rejects if r.line])
        return int(self.size / self.bytes_per_row) if self.bytes_per_row else self.rows


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if is_gzip(path.name) else path.open("rb")  # type: ignore[return-value]


def read_header(path: Path) -> tuple[list[str], int]:
    """The header's column names and the offset where the data starts, or `SampleError` saying what is wrong."""
    with _open(path) as stream:
        try:
            probe = stream.read(HEADER_PROBE)
        except (OSError, EOFError) as exc:
            raise SampleError(f"the file ends in .gz but is not valid gzip: {exc}") from exc
    if not probe.strip():
        raise SampleError("the file is empty")
    raw, data_start = split_header(probe)
    return parse_header(raw), data_start


def _head(path: Path, header: list[str], data_start: int, rows: int) -> tuple[bytes, int, bool]:
    """The first ``rows`` records after the header, the line they start on, and whether they are the whole file.

    Cut in pages of at most `HEAD_PAGE_ROWS` (the cutter rescans its buffer per chunk, so one huge page would
    cost quadratic time), then joined.
    """
    page_rows = min(rows, HEAD_PAGE_ROWS)
    pages = -(-rows // page_rows)
    with _open(path) as stream:
        raw = stream.read(data_start)
        first_line = raw.count(b"\n") + 1
        spans = list(cut_pages(stream, start=data_start, first_line=first_line, rows=page_rows, limit=pages + 1))
    if not spans:
        return b"", first_line, True
    complete = len(spans) <= pages
    spans = spans[:pages]
    with _open(path) as stream:
        stream.seek(spans[0].start)
        body = stream.read(spans[-1].end - spans[0].start)
    if not complete and not body.endswith(b"\n"):
        body += b"\n"
    return body, first_line, complete


def _block(window: bytes, fields: int) -> bytes | None:
    """Whole records of ``window`` (which starts anywhere) that all have ``fields`` fields, or None."""
    starts = np.flatnonzero(np.frombuffer(window, dtype=np.uint8) == ord("\n"))[:CANDIDATE_STARTS]
    for start in starts.tolist():
        rest = window[start + 1 :]
        index = scan_records(rest)
        if len(index) < 2:
            continue
        keep = len(index) - 1  # the last record may be cut by the window's end
        if np.all(index.fields[:keep] == fields):
            return rest[: int(index.ends[keep - 1])]
    return None


def read_sample(path: Path, *, head_rows: int = 20_000, blocks: int = 50, block_rows: int = 200) -> Sample:
    """The first ``head_rows`` rows and ``blocks`` blocks of about ``block_rows`` rows spread through the file."""
    header, data_start = read_header(path)
    if not header or header == [""]:
        raise SampleError("the file has no header row")
    body, first_line, complete = _head(path, header, data_start, head_rows)
    if not body.strip():
        raise SampleError("the file has a header but no rows: there are no values to infer types from")
    head = parse_page(body, header, first_line=first_line)
    size = path.stat().st_size
    sample = Sample(header, head.table, head.lines, list(head.rejects), size=size, head_rows=head.table.num_rows)
    sample.complete = complete
    sample.bytes_per_row = (len(body) / max(head.input_rows, 1)) if not is_gzip(path.name) else 0.0
    end_of_head = data_start + len(body)
    if complete or is_gzip(path.name) or blocks <= 0:  # a gzip stream cannot be read from the middle
        return sample
    window = int(max(64 * 1024, sample.bytes_per_row * block_rows * 2))
    tables = [head.table]
    with path.open("rb") as stream:
        for offset in np.linspace(end_of_head, max(end_of_head, size - window), blocks).astype(np.int64).tolist():
            stream.seek(offset)
            block = _block(stream.read(window), len(header))
            if block is None:
                sample.skipped_blocks += 1
                continue
            parsed = parse_page(block, header, first_line=0)
            sample.spread_blocks += 1
            sample.spread_rows += parsed.table.num_rows
            tables.append(parsed.table.slice(0, block_rows))
    sample.spread_rows = sum(t.num_rows for t in tables[1:])
    sample.table = pa.concat_tables(tables)
    sample.lines = np.concatenate([head.lines, np.zeros(sample.spread_rows, dtype=np.int64)])
    return sample
