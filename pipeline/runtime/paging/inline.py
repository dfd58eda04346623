"""An inline upload as a stream of pages: header checked, `.gz` inflated within its limits, bounded memory.

The upload processor reads small files and `.gz` files itself, one page at a time, with the same cutter
and page size as the pager; nothing here holds more than one page.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

from pipeline.runtime.config import Settings
from pipeline.runtime.contract import Contract
from pipeline.runtime.errors import TerminalError
from pipeline.runtime.pages.process import Oversized
from pipeline.runtime.paging.cutter import PageSpan, read_pages
from pipeline.runtime.rows.header import check_header, parse_header
from pipeline.runtime.rows.records import count_line_breaks, split_header
from pipeline.runtime.source.reader import (
    HEAD_BYTES,
    GzipLimits,
    PieceReader,
    Readable,
    followed_by,
    gunzip,
    measure,
    read_head,
)

Page = tuple[PageSpan, bytes]


class EmptyFileError(TerminalError):
    """The object has no bytes, or a header and no rows."""


def open_stream(open_raw: Callable[[], Readable], gzipped: bool, settings: Settings) -> Readable:
    """The bytes of an upload (``open_raw`` opens its raw bytes), gunzipped if ``gzipped``.

    A `.gz` upload is first inflated once keeping nothing, so a file past the limits fails before a row
    is written, then opened again to be read.
    """
    if not gzipped:
        return open_raw()
    limits = GzipLimits(settings.gzip_max_bytes, settings.gzip_max_ratio)
    measure(open_raw(), limits)
    return PieceReader(gunzip(open_raw(), limits))


def inline_pages(stream: Readable, contract: Contract, settings: Settings) -> tuple[list[str], Iterator[Page]]:
    """The checked header of ``stream`` and its pages; `EmptyFileError` when it has no rows."""
    head = read_head(stream)
    if not head.strip() and len(head) < HEAD_BYTES:
        raise EmptyFileError("the file is empty")
    raw_header, data_start = split_header(head)
    header = check_header(parse_header(raw_header), contract)
    pages = read_pages(
        followed_by(head[data_start:], stream),
        start=data_start,
        first_line=1 + count_line_breaks(head[:data_start]),
        rows=settings.page_rows,
        max_bytes=settings.page_max_bytes,
        record_max=settings.record_max_bytes,
    )
    first = next(pages, None)
    if first is None or (not first[0].oversized and not first[1].strip() and next(pages, None) is None):
        raise EmptyFileError("the file has a header but no rows")
    return header, itertools.chain([first], pages)


def oversized(span: PageSpan, preview: bytes, settings: Settings, gzipped: bool) -> Oversized:
    """The record of an oversized span read inline (offsets count in the gunzipped bytes of a `.gz` file)."""
    return Oversized(
        start=span.start,
        end=span.end,
        first_line=span.first_line,
        last_line=span.last_line,
        limit=settings.record_max_bytes,
        preview=preview,
        unterminated=span.unterminated,
        source="gunzipped file" if gzipped else "raw file",
    )
