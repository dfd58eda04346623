"""Cutting a CSV byte stream into pages of N records at true record boundaries."""

from __future__ import annotations

import io
import itertools

import pytest

from pipeline.runtime.paging.cutter import PREVIEW_BYTES, PageSpan, cut_pages, read_pages, record_ends
from pipeline.runtime.rows.records import scan_records

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


# ------------------------------------------------------------------ bounded pages and records


def _spans(data: bytes, **kwargs) -> list[PageSpan]:
    defaults = {"start": 0, "first_line": 1, "rows": 100, "limit": 1000, "chunk_size": 5}
    return list(cut_pages(io.BytesIO(data), **(defaults | kwargs)))


BIG = b'1,a\n2,"' + b"x" * 50 + b'\nmore"\n3,b\n4,c\n'  # record 2 is 60 bytes with its newline, lines 2-3


@pytest.mark.parametrize("chunk_size", [1, 4, 16, 1 << 20])
def test_a_record_over_the_limit_is_a_span_of_its_own_between_normal_pages(chunk_size):
    pages = _spans(BIG, chunk_size=chunk_size, record_max=40)
    assert [(BIG[p.start : p.end], p.oversized) for p in pages] == [
        (b"1,a\n", False),
        (BIG[4:64], True),
        (b"3,b\n4,c\n", False),
    ]
    big = pages[1]
    assert (big.first_line, big.last_line, big.next_line, big.unterminated) == (2, 3, 4, False)
    assert (pages[2].first_line, pages[2].next_line) == (4, 6)


def test_records_within_the_limit_stay_in_their_page():
    assert [p.oversized for p in _spans(BIG, record_max=60)] == [False]


def test_a_quote_that_never_closes_is_one_oversized_record_to_the_end_of_the_file():
    data = b'1,a\n2,"open\n' + b"3,b\n" * 30
    pages = _spans(data, record_max=50)
    assert [(p.start, p.end, p.oversized, p.unterminated) for p in pages] == [
        (0, 4, False, False),
        (4, len(data), True, True),
    ]
    assert (pages[1].first_line, pages[1].last_line) == (2, 32)


def test_an_oversized_last_record_without_a_newline_ends_the_file():
    data = b"1,a\n2," + b"y" * 60
    pages = _spans(data, record_max=30)
    assert [(p.start, p.end, p.oversized, p.last_line) for p in pages] == [(0, 4, False, 0), (4, len(data), True, 2)]


def test_a_page_ends_once_it_holds_max_bytes():
    data = b"".join(b"%d,%s\n" % (i, b"v" * 8) for i in range(20))  # 11-12 bytes a record
    pages = _spans(data, rows=100, max_bytes=50)
    assert all(p.end - p.start - 12 < 50 <= p.end - p.start for p in pages[:-1])
    assert b"".join(data[p.start : p.end] for p in pages) == data


def test_resuming_after_an_oversized_record_continues_with_the_next_page():
    first = _spans(BIG, record_max=40, limit=2)
    assert [p.oversized for p in first] == [False, True]
    rest = _spans(BIG, record_max=40, start=first[-1].end, first_line=first[-1].next_line)
    assert (rest[0].start, rest[0].first_line) == (64, 4)


def test_cr_only_line_endings_cut_pages_at_records():
    data = b'1,a\r2,"x\ry"\r3,b\r4,c'
    pages = _spans(data, rows=2, chunk_size=3)
    assert [data[p.start : p.end] for p in pages] == [b'1,a\r2,"x\ry"\r', b"3,b\r4,c"]
    assert [(p.first_line, p.next_line) for p in pages] == [(1, 4), (4, 5)]


def test_a_crlf_split_between_chunks_is_one_line_break():
    data = b"1,a\r\n2,b\r\n3,c\r\n"
    for chunk_size in range(1, len(data) + 1):
        pages = _spans(data, rows=1, chunk_size=chunk_size)
        assert [data[p.start : p.end] for p in pages] == [b"1,a\r\n", b"2,b\r\n", b"3,c\r\n"]
        assert [p.first_line for p in pages] == [1, 2, 3]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 7])
def test_a_doubled_quote_split_between_chunks_stays_a_quote_character(chunk_size):
    data = b'1,"a""\nb"\n2,c\n'  # the field is a"\nb
    pages = _spans(data, rows=1, chunk_size=chunk_size)
    assert [data[p.start : p.end] for p in pages] == [b'1,"a""\nb"\n', b"2,c\n"]


def test_read_pages_keeps_only_the_first_bytes_of_an_oversized_record():
    data = b"1,a\n2," + b"z" * 5000 + b"\n3,b\n"
    read = list(read_pages(io.BytesIO(data), start=0, first_line=1, rows=10, chunk_size=100, record_max=1000))
    assert [(span.oversized, body) for span, body in read] == [
        (False, b"1,a\n"),
        (True, (b"2," + b"z" * 5000)[:PREVIEW_BYTES]),
        (False, b"3,b\n"),
    ]


def test_the_pager_holds_one_chunk_not_the_record(tmp_path):
    """A 60 MB record: the cutter's allocations stay near one chunk (tracemalloc counts numpy's buffers)."""
    import tracemalloc

    path = tmp_path / "big.csv"
    with path.open("wb") as out:
        out.write(b'1,a\n2,"')
        for _ in range(60):
            out.write(b"x" * 1_000_000)
        out.write(b'"\n3,b\n')
    tracemalloc.start()
    with path.open("rb") as stream:
        pages = list(cut_pages(stream, start=0, first_line=1, rows=50_000, limit=100, chunk_size=1 << 20))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [p.oversized for p in pages] == [False, True, False]
    assert peak < 16 << 20, peak


def test_an_oversized_record_is_rejected_with_its_size_lines_and_bytes_and_its_first_bytes():
    from pipeline.runtime.pages.process import Oversized

    reject = Oversized(159, 17_000_231, 3, 4, 16 << 20, b"ORD-1,42,x\r\n", unterminated=True, source="gunzipped file")
    assert reject.reject().line == 3
    assert reject.reject().reasons == [
        "record too large (a quoted field never closes): 17,000,072 bytes, the limit is 16,777,216, so it is not "
        "parsed and only its first 12 bytes are kept here (lines 3-4, bytes 159-17,000,230 of the gunzipped file)"
    ]
    assert reject.reject().raw == "ORD-1,42,x"
    assert "; " not in reject.reject().reasons[0]  # a rejects file joins reasons with "; "
