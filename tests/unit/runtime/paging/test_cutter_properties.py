"""Property checks (hypothesis) of the pager: any CSV, any chunk size, pages tile the input at records."""

from __future__ import annotations

import csv
import io
import re

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.runtime.paging.cutter import PageSpan, cut_pages, read_pages  # noqa: E402
from pipeline.runtime.rows.records import scan_records  # noqa: E402

PLAIN = st.text(alphabet='ab1 "', max_size=4).filter(lambda s: not s.startswith('"'))  # stray quotes are text
QUOTED = st.text(alphabet='ab\n\r,"', max_size=6).map(lambda s: '"' + s.replace('"', '""') + '"')
FIELD = PLAIN | QUOTED
RECORD = st.lists(FIELD, min_size=1, max_size=3).map(",".join)
TERMINATOR = st.sampled_from(["\n", "\r\n", "\r"])  # LF, CR LF and old Mac CR, mixed
LINE_BREAK = re.compile(rb"\r\n|\n|\r")  # what Python's csv and pyarrow end a line at


@st.composite
def csv_documents(draw) -> bytes:
    records = draw(st.lists(RECORD.filter(bool), min_size=0, max_size=12))
    terminators = [draw(TERMINATOR) for _ in records]
    text = "".join(r + t for r, t in zip(records, terminators, strict=True))
    if records and draw(st.booleans()):
        text = text[: -len(terminators[-1])]  # last record without a newline
    return text.encode()


def csv_records(body: bytes) -> list[list[str]]:
    """The records Python's csv module reads from ``body`` (blank lines are no records)."""
    return [r for r in csv.reader(io.StringIO(body.decode(), newline="")) if r]


def _all_pages(
    data: bytes, rows: int, chunk_size: int, limit: int, max_bytes: int = 1 << 20, record_max: int = 1 << 20
) -> list[PageSpan]:
    pages: list[PageSpan] = []
    start, line = 0, 1
    while True:
        stream = io.BytesIO(data[start:])
        batch = list(
            cut_pages(
                stream,
                start=start,
                first_line=line,
                rows=rows,
                limit=limit,
                chunk_size=chunk_size,
                max_bytes=max_bytes,
                record_max=record_max,
            )
        )
        assert len(batch) <= limit
        if not batch:
            return pages
        pages += batch
        start, line = batch[-1].end, batch[-1].next_line


@settings(max_examples=300, deadline=None, database=None)
@given(csv_documents(), st.integers(1, 5), st.integers(1, 17), st.integers(1, 4), st.integers(1, 40))
def test_pages_tile_the_input_at_record_boundaries(data, rows, chunk_size, limit, max_bytes):
    pages = _all_pages(data, rows, chunk_size, limit, max_bytes)
    assert b"".join(data[p.start : p.end] for p in pages) == data
    # oracle: Python's csv module reads the same records from the pages, one by one, as from the whole file
    per_page = [csv_records(data[p.start : p.end]) for p in pages]
    assert [r for records in per_page for r in records] == csv_records(data)
    for page, records in zip(pages, per_page, strict=True):
        body = data[page.start : page.end]
        index = scan_records(body, first_line=page.first_line)
        assert not index.unterminated
        assert not page.oversized
        assert len(index) == len(records) <= rows
        assert page.first_line == 1 + len(LINE_BREAK.findall(data, 0, page.start))
        assert page.next_line == page.first_line + len(LINE_BREAK.findall(body))
        if page is not pages[-1] and len(index) < rows:  # cut early only once the page is full of bytes
            assert len(body) >= max_bytes


@settings(max_examples=150, deadline=None, database=None)
@given(csv_documents(), st.integers(1, 5), st.integers(1, 17), st.integers(1, 40))
def test_read_pages_gives_the_bytes_of_the_same_pages(data, rows, chunk_size, max_bytes):
    spans = _all_pages(data, rows, chunk_size, 10**9, max_bytes)
    stream = io.BytesIO(data)
    read = list(read_pages(stream, start=0, first_line=1, rows=rows, chunk_size=chunk_size, max_bytes=max_bytes))
    assert [span for span, _ in read] == spans
    assert [body for _, body in read] == [data[s.start : s.end] for s in spans]


@settings(max_examples=200, deadline=None, database=None)
@given(csv_documents(), st.integers(1, 17), st.integers(1, 30), st.integers(1, 4))
def test_records_over_the_limit_become_spans_of_their_own(data, chunk_size, record_max, limit):
    """Every record longer than ``record_max`` (its terminator included) is one oversized span; nothing is lost."""
    pages = _all_pages(data, 3, chunk_size, limit, record_max=record_max)
    assert b"".join(data[p.start : p.end] for p in pages) == data
    assert [r for p in pages for r in csv_records(data[p.start : p.end])] == csv_records(data)  # csv: the oracle
    for page in pages:
        body = data[page.start : page.end]
        records = [body[s:e] for s, e in zip(scan_records(body).starts, scan_records(body).ends, strict=True)]
        assert page.first_line == 1 + len(LINE_BREAK.findall(data, 0, page.start))
        if page.oversized:
            assert page.size > record_max and len(records) == 1
            last_byte_line = 1 + sum(1 for m in LINE_BREAK.finditer(data) if m.end() <= page.end - 1)
            assert page.last_line == last_byte_line
        else:
            assert all(len(r) <= record_max for r in records)
    read = list(
        read_pages(io.BytesIO(data), start=0, first_line=1, rows=3, chunk_size=chunk_size, record_max=record_max)
    )
    assert [span for span, _ in read] == pages
    for span, body in read:
        assert body == (data[span.start : span.end][:1024] if span.oversized else data[span.start : span.end])
