"""Cutting a CSV byte stream into pages of N records at true record boundaries."""

from __future__ import annotations

import io
import itertools

import pytest

from pipeline.pages.cutter import PageSpan, cut_pages, record_ends
from pipeline.process.records import scan_records

# Physical lines: 1 header, 2-4 (two quoted newlines), 5, 6-7 (quoted CRLF), 8 (no trailing newline)
DATA = b'id,note\n1,"a\nb\nc"\n2,x\n3,"y\r\n"\r\n4,z'


def _cut(
    data: bytes, *, rows: int, limit: int = 1000, chunk_size: int = 7, start: int = 0, first_line: int = 1
) -> list[PageSpan]:
    stream = io.BytesIO(data[start:])
    return list(cut_pages(stream, start=start, first_line=first_line, rows=rows, limit=limit, chunk_size=chunk_size))


def _records(data: bytes, page: PageSpan) -> list[bytes]:
    body = data[page.start : page.end]
    index = scan_records(body)
    return [body[s:e] for s, e in zip(index.starts.tolist(), index.ends.tolist(), strict=True)]


def test_record_ends_ignore_quoted_newlines():
    assert record_ends(b'a\n"b\nc"\nd').tolist() == [2, 8]
    assert record_ends(b"no newline").tolist() == []


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7, 13, 1 << 20])
def test_pager_keeps_quoted_newlines_in_one_page(chunk_size):
    pages = _cut(DATA, rows=2, chunk_size=chunk_size)
    assert [_records(DATA, p) for p in pages] == [
        [b"id,note", b'1,"a\nb\nc"'],
        [b"2,x", b'3,"y\r\n"'],
        [b"4,z"],
    ]
    for page in pages:
        assert not scan_records(DATA[page.start : page.end]).unterminated


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 10])
def test_page_byte_ranges_concatenate_to_the_input(rows, chunk_size):
    pages = _cut(DATA, rows=rows, chunk_size=chunk_size)
    assert pages[0].start == 0
    assert pages[-1].end == len(DATA)
    for before, after in itertools.pairwise(pages):
        assert before.end == after.start
        assert before.next_line == after.first_line
    assert b"".join(DATA[p.start : p.end] for p in pages) == DATA


def test_pages_hold_rows_records_each_except_the_last():
    pages = _cut(DATA, rows=2)
    assert [len(_records(DATA, p)) for p in pages] == [2, 2, 1]


def test_first_and_next_line_are_physical_lines():
    pages = _cut(DATA, rows=2)
    assert [(p.first_line, p.next_line) for p in pages] == [(1, 5), (5, 8), (8, 8)]
    for page in pages:
        assert page.first_line == 1 + DATA.count(b"\n", 0, page.start)
        index = scan_records(DATA[page.start : page.end], first_line=page.first_line)
        assert index.lines[0] == page.first_line


def test_last_page_without_trailing_newline_ends_at_end_of_stream():
    last = _cut(DATA, rows=2)[-1]
    assert DATA[last.start : last.end] == b"4,z"
    assert last.end == len(DATA)


def test_input_ending_with_newline_has_no_empty_last_page():
    data = b"a\nb\nc\nd\n"
    pages = _cut(data, rows=2)
    assert [(p.start, p.end) for p in pages] == [(0, 4), (4, 8)]


def test_limit_is_honoured():
    assert len(_cut(DATA, rows=1, limit=3)) == 3
    assert _cut(DATA, rows=1, limit=0) == []


def test_resuming_from_the_last_end_continues_where_it_stopped():
    everything = _cut(DATA, rows=1)
    first = _cut(DATA, rows=1, limit=2)
    assert first == everything[:2]
    resumed = _cut(DATA, rows=1, start=first[-1].end, first_line=first[-1].next_line)
    assert first + resumed == everything


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_paging_in_bounded_steps_gives_the_same_pages(limit):
    everything = _cut(DATA, rows=1, chunk_size=5)
    collected: list[PageSpan] = []
    start, line = 0, 1
    while True:
        batch = _cut(DATA, rows=1, limit=limit, chunk_size=5, start=start, first_line=line)
        if not batch:
            break
        collected += batch
        start, line = batch[-1].end, batch[-1].next_line
    assert collected == everything


def test_resuming_at_a_data_offset_after_the_header():
    data = b"h1,h2\n1,a\n2,b\n3,c\n"
    pages = _cut(data, rows=2, start=6, first_line=2)
    assert [(p.start, p.end, p.first_line, p.next_line) for p in pages] == [(6, 14, 2, 4), (14, 18, 4, 5)]


def test_empty_stream_gives_no_pages():
    assert _cut(b"", rows=5) == []


def test_unterminated_quote_ends_up_in_the_last_page():
    data = b'1,a\n2,"open\n3,b\n'
    pages = _cut(data, rows=1, chunk_size=3)
    assert [data[p.start : p.end] for p in pages] == [b"1,a\n", b'2,"open\n3,b\n']


@pytest.mark.parametrize("chunk_size", [5, 64, 1 << 20])
def test_a_stray_quote_inside_an_unquoted_field_does_not_swallow_the_following_pages(chunk_size: int):
    rows = [b'%d,TV 55" screen' % i if i % 3 == 0 else b'%d,"quoted, ""fine"""' % i for i in range(40)]
    data = b"\n".join(rows) + b"\n"
    pages = _cut(data, rows=10, chunk_size=chunk_size)
    assert [len(_records(data, p)) for p in pages] == [10, 10, 10, 10]
    assert [p.first_line for p in pages] == [1, 11, 21, 31]
