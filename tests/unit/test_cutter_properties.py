"""Property checks (hypothesis) of the pager: any CSV, any chunk size, pages tile the input at records."""

from __future__ import annotations

import io

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.pages.cutter import cut_pages  # noqa: E402
from pipeline.process.records import scan_records  # noqa: E402

PLAIN = st.text(alphabet="ab1 ", max_size=4)
QUOTED = st.text(alphabet='ab\n\r,"', max_size=6).map(lambda s: '"' + s.replace('"', '""') + '"')
FIELD = PLAIN | QUOTED
RECORD = st.lists(FIELD, min_size=1, max_size=3).map(",".join)
TERMINATOR = st.sampled_from(["\n", "\r\n"])


@st.composite
def csv_documents(draw) -> bytes:
    records = draw(st.lists(RECORD.filter(bool), min_size=0, max_size=12))
    terminators = [draw(TERMINATOR) for _ in records]
    text = "".join(r + t for r, t in zip(records, terminators, strict=True))
    if records and draw(st.booleans()):
        text = text[: -len(terminators[-1])]  # last record without a newline
    return text.encode()


@settings(max_examples=300, deadline=None, database=None)
@given(csv_documents(), st.integers(1, 5), st.integers(1, 17), st.integers(1, 4))
def test_pages_tile_the_input_at_record_boundaries(data, rows, chunk_size, limit):
    pages = []
    start, line = 0, 1
    while True:
        batch = list(
            cut_pages(
                io.BytesIO(data[start:]), start=start, first_line=line, rows=rows, limit=limit, chunk_size=chunk_size
            )
        )
        assert len(batch) <= limit
        if not batch:
            break
        pages += batch
        start, line = batch[-1].end, batch[-1].next_line

    assert b"".join(data[p.start : p.end] for p in pages) == data
    whole = scan_records(data)
    for page in pages:
        body = data[page.start : page.end]
        index = scan_records(body, first_line=page.first_line)
        assert not index.unterminated
        assert len(index) <= rows
        assert page.first_line == 1 + data.count(b"\n", 0, page.start)
        assert page.next_line == page.first_line + body.count(b"\n")
    assert [len(scan_records(data[p.start : p.end])) for p in pages[:-1]] == [rows] * (len(pages) - 1)
    assert sum(len(scan_records(data[p.start : p.end])) for p in pages) == len(whole)
