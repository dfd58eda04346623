"""Cut a byte stream into pages at true CSV record boundaries, reading it once, chunk by chunk, in bounded memory.

A page ends after ``rows`` records or once it holds ``max_bytes``, whichever comes first. A record longer than
``record_max`` never joins a page: it becomes an *oversized* span of its own, which the page processor rejects
with its size and lines without parsing it, so no record, however long, is ever held whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pipeline.runtime.rows.records import CARRIAGE_RETURN, NEWLINE, QUOTE, line_breaks, quote_parity
from pipeline.runtime.source.reader import Readable

CHUNK = 8 << 20
PAGE_MAX_BYTES = 64 << 20  # a page holds at most this many bytes plus its last record
RECORD_MAX_BYTES = 16 << 20  # longer records are rejected unparsed (Athena's own row limit is 32 MB)
PREVIEW_BYTES = 1024  # of an oversized record, kept in the rejects file


@dataclass(frozen=True)
class PageSpan:
    """One page: absolute byte range [start, end) of the object and the line its first record is on.

    An ``oversized`` span is one record longer than the record limit, ending on line ``last_line``;
    ``unterminated`` says a quoted field in it never closes before the end of the file.
    """

    start: int
    end: int
    first_line: int
    next_line: int
    oversized: bool = False
    unterminated: bool = False
    last_line: int = 0

    @property
    def size(self) -> int:
        return self.end - self.start


class RecordScanner:
    """Record ends and line breaks of a stream fed chunk by chunk, with the quote state carried across chunks.

    A chunk's last byte is held back when it is a CR (it may be half of a CR LF) and scanned with the next
    chunk; a quote that closes a field at a chunk's end is remembered (the next byte may pair with it).
    So a split never changes what the bytes mean.
    """

    def __init__(self, offset: int, delimiter: int = ord(",")) -> None:
        self.offset = offset  # absolute offset of the next byte to scan
        self.delimiter = delimiter
        self.inside = False
        self.before = NEWLINE
        self.held = b""

    def feed(self, chunk: bytes, final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Absolute offsets just after each record terminator, and of every line break, in the bytes scanned."""
        data = self.held + chunk if self.held else chunk
        hold = 1 if data and not final and data[-1] == CARRIAGE_RETURN else 0
        scan = np.frombuffer(data, dtype=np.uint8)[: len(data) - hold]
        self.held = data[len(data) - hold :]
        if scan.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        parity = quote_parity(scan, self.delimiter, inside=self.inside, before=self.before)
        breaks = line_breaks(scan)
        ends = breaks[parity[breaks] == 0] + 1
        was_inside = self.inside if scan.size == 1 else bool(parity[-2])
        self.inside, self.before = bool(parity[-1]), int(scan[-1])
        if self.before == QUOTE and (self.inside or was_inside == self.inside):
            self.before = 0  # an opening or a text quote: only a closing one pairs with a quote after it
        base = self.offset
        self.offset += int(scan.size)
        return ends.astype(np.int64) + base, breaks.astype(np.int64) + base


def cut_pages(
    stream: Readable,
    *,
    start: int,
    first_line: int,
    rows: int,
    limit: int,
    chunk_size: int = CHUNK,
    max_bytes: int = PAGE_MAX_BYTES,
    record_max: int = RECORD_MAX_BYTES,
) -> Iterator[PageSpan]:
    """Yield up to ``limit`` pages read from ``stream``, which begins at byte ``start`` (a record boundary).

    Memory holds one chunk, whatever the page or record sizes. The last page may end without a newline.
    """
    if limit <= 0:
        return
    for span, _ in _cut(stream, start, first_line, rows, limit, chunk_size, max_bytes, record_max, keep=False):
        yield span


def read_pages(
    stream: Readable,
    *,
    start: int,
    first_line: int,
    rows: int,
    chunk_size: int = CHUNK,
    max_bytes: int = PAGE_MAX_BYTES,
    record_max: int = RECORD_MAX_BYTES,
) -> Iterator[tuple[PageSpan, bytes]]:
    """Like `cut_pages` for a stream read only once (a gunzipped object): each page with its bytes.

    An oversized span comes with the first `PREVIEW_BYTES` of its record only. Memory holds one page and a chunk.
    """
    yield from _cut(stream, start, first_line, rows, None, chunk_size, max_bytes, record_max, keep=True)


def _cut(
    stream: Readable,
    start: int,
    first_line: int,
    rows: int,
    limit: int | None,
    chunk_size: int,
    max_bytes: int,
    record_max: int,
    *,
    keep: bool,
) -> Iterator[tuple[PageSpan, bytes]]:
    scanner = RecordScanner(start)
    buffer, buffer_start = bytearray(), start  # keep: the bytes read from buffer_start on
    page_start, page_line, page_records = start, first_line, 0
    record_start, record_line = start, first_line  # the record being read
    line_base = first_line  # line of the first byte not yet scanned
    preview: bytearray | None = None  # keep: the first bytes of a record found too long before its end
    produced = 0

    def take(span: PageSpan) -> tuple[PageSpan, bytes]:
        nonlocal buffer_start, preview
        body = b""
        if keep:
            if span.oversized and preview is not None:
                room = min(PREVIEW_BYTES - len(preview), span.end - buffer_start)
                body, preview = bytes(preview + buffer[: max(0, room)]), None
            elif span.oversized:
                offset = span.start - buffer_start
                body = bytes(buffer[offset : offset + min(PREVIEW_BYTES, span.size)])
            else:
                body = bytes(buffer[span.start - buffer_start : span.end - buffer_start])
            del buffer[: max(0, span.end - buffer_start)]
            buffer_start = max(buffer_start, span.end)
        return span, body

    eof = False
    while not eof:
        chunk = stream.read(chunk_size)
        eof = not chunk
        if keep:
            buffer += chunk
        scanned_from = scanner.offset
        ends, breaks = scanner.feed(chunk, final=eof)
        if eof and scanner.offset > (int(ends[-1]) if ends.size else record_start):  # a last record, unterminated
            ends = np.append(ends, scanner.offset)
        n = int(ends.size)
        starts = np.concatenate(([record_start], ends[:-1])).astype(np.int64)
        too_long = np.flatnonzero(ends - starts > record_max)
        lines = _Lines(line_base, breaks, scanned_from, scanner.before in (NEWLINE, CARRIAGE_RETURN))
        i = 0
        while i < n:
            big = int(too_long[np.searchsorted(too_long, i)]) if too_long.size and too_long[-1] >= i else n
            by_rows = i + rows - page_records - 1
            by_bytes = int(np.searchsorted(ends, page_start + max_bytes, side="left"))
            cut = max(i, min(by_rows, by_bytes))
            if big < n and big <= cut:
                page_records += big - i
                if big:  # the record starts in this chunk (else it began earlier, where record_line was set)
                    record_start, record_line = int(starts[big]), lines.at(int(starts[big]))
                if page_records:
                    yield take(PageSpan(page_start, record_start, page_line, record_line))
                    produced += 1
                    if produced == limit:
                        return
                end = int(ends[big])
                unterminated = eof and big == n - 1 and scanner.inside
                span = PageSpan(record_start, end, record_line, lines.at(end), True, unterminated, lines.last(end))
                yield take(span)
                produced += 1
                if produced == limit:
                    return
                page_start, page_line, page_records = end, lines.at(end), 0
                i = big + 1
            elif cut < n:
                end = int(ends[cut])
                yield take(PageSpan(page_start, end, page_line, lines.at(end)))
                produced += 1
                if produced == limit:
                    return
                page_start, page_line, page_records = end, lines.at(end), 0
                i = cut + 1
            else:
                page_records += n - i
                i = n
        if n:
            record_start = int(ends[-1])
            record_line = lines.at(record_start)
        line_base += int(breaks.size)
        if scanner.offset - record_start > record_max:  # the record being read is already too long
            if page_records:
                yield take(PageSpan(page_start, record_start, page_line, record_line))
                produced += 1
                if produced == limit:
                    return
                page_start, page_line, page_records = record_start, record_line, 0
            if keep:  # keep its first bytes only, never the whole record
                preview = bytearray() if preview is None else preview
                offset = max(0, record_start - buffer_start)
                preview += buffer[offset : offset + max(0, PREVIEW_BYTES - len(preview))]
                del buffer[:]
                buffer_start = scanner.offset + len(scanner.held)
    if page_records:
        yield take(PageSpan(page_start, record_start, page_line, record_line))


@dataclass(frozen=True)
class _Lines:
    """Line numbers of offsets in the bytes of one scanned chunk."""

    base: int  # the line of the chunk's first byte
    breaks: np.ndarray  # absolute offsets of the chunk's line breaks
    start: int  # absolute offset of the chunk's first byte
    after_break: bool  # the byte before ``start`` is a line break (read when the chunk is empty)

    def at(self, offset: int) -> int:
        """The line the byte at ``offset`` (in the chunk, or just after it) is on."""
        return self.base + int(np.searchsorted(self.breaks, offset, side="left"))

    def last(self, end: int) -> int:
        """The line of the last byte before ``end``, which may be the last byte of an earlier chunk."""
        return self.at(end - 1) if end > self.start else self.base - int(self.after_break)


def record_ends(buf: bytes) -> np.ndarray:
    """Offsets just after every line break that is outside double quotes (buf starts at a record boundary)."""
    ends, _ = RecordScanner(0).feed(buf, final=True)
    return ends
