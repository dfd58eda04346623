"""An inline upload read as a stream of pages: header checked, .gz inflated within limits, records bounded."""

from __future__ import annotations

import csv
import gzip
import io

import pytest
from conftest import make_contract

from pipeline.runtime.config import Settings
from pipeline.runtime.paging.inline import EmptyFileError, inline_pages, open_stream, oversized
from pipeline.runtime.rows.header import HeaderError
from pipeline.runtime.rows.parse import parse_page
from pipeline.runtime.source.reader import GzipLimitError, InvalidGzipError

CONTRACT = make_contract({"note": {"type": ["string", "null"]}})
SMALL = Settings(page_rows=2, record_max_bytes=64)


def _pages(data: bytes, gzipped: bool = False, settings: Settings = SMALL):
    header, pages = inline_pages(open_stream(lambda: io.BytesIO(data), gzipped, settings), CONTRACT, settings)
    return header, list(pages)


def test_pages_of_an_inline_file_hold_its_rows_in_order_with_their_lines():
    data = b'id,note\r\na,1\r\nb,"two\r\nlines"\r\nc,3\r\nd,4\r\ne,5'
    header, pages = _pages(data)
    assert header == ["id", "note"]
    assert [(span.first_line, span.next_line) for span, _ in pages] == [(2, 5), (5, 7), (7, 7)]
    rows = [r for span, body in pages for r in parse_page(body, header, first_line=span.first_line).table.to_pylist()]
    assert [list(r.values()) for r in rows] == list(csv.reader(io.StringIO(data.decode(), newline="")))[1:]


def test_a_gzipped_file_gives_the_same_pages_as_the_plain_one():
    data = b"id,note\na,1\nb,2\nc,3\n"
    assert _pages(gzip.compress(data), gzipped=True) == _pages(data)


def test_a_record_over_the_limit_is_an_oversized_page_with_its_first_bytes():
    data = b"id,note\na,1\nb," + b"x" * 100 + b"\nc,3\n"
    _, pages = _pages(data)
    assert [span.oversized for span, _ in pages] == [False, True, False]
    span, preview = pages[1]
    reject = oversized(span, preview, SMALL, gzipped=True).reject()
    assert reject.line == 3 and reject.raw == "b," + "x" * 100
    assert reject.reasons[0].startswith("record too large: 103 bytes, the limit is 64, so it is not parsed")
    assert reject.reasons[0].endswith("(line 3, bytes 12-114 of the gunzipped file)")


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "the file is empty"), (b"\n\r\n  \n", "the file is empty"), (b"id,note\n", "header but no rows")],
)
def test_files_without_rows_fail_with_a_readable_cause(data, message):
    with pytest.raises(EmptyFileError, match=message):
        _pages(data)
    with pytest.raises(EmptyFileError, match=message):
        _pages(gzip.compress(data), gzipped=True)


def test_a_header_with_blank_lines_after_it_and_nothing_else_has_no_rows():
    with pytest.raises(EmptyFileError, match="header but no rows"):
        _pages(b"id,note\n\n\n")


def test_a_cr_only_header_is_read_as_a_header():
    header, pages = _pages(b"id,note\ra,1\rb,2\r")
    assert header == ["id", "note"] and [span.first_line for span, _ in pages] == [2]
    with pytest.raises(HeaderError, match="unknown columns: other"):
        _pages(b"id,other\ra,1\r")


def test_gzip_limits_fail_before_a_page_is_read():
    bomb = gzip.compress(b"id,note\n" + b"a," + b"x" * 80_000_000 + b"\n")
    with pytest.raises(GzipLimitError, match="200-fold"):
        open_stream(lambda: io.BytesIO(bomb), True, Settings())
    with pytest.raises(GzipLimitError, match="more than 1,000 bytes"):
        open_stream(lambda: io.BytesIO(gzip.compress(b"x" * 2000)), True, Settings(gzip_max_bytes=1000))
    with pytest.raises(InvalidGzipError):
        open_stream(lambda: io.BytesIO(b"id,note\na,1\n"), True, Settings())
