"""Cut a byte stream into pages of N records at true CSV record boundaries, with bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from pipeline.process.records import quote_parity

NEWLINE = ord("\n")
CHUNK = 8 << 20


@dataclass(frozen=True)
class PageSpan:
    """One page: absolute byte range [start, end) of the object and the line its first record is on."""

    start: int
    end: int
    first_line: int
    next_line: int


def record_ends(buf: bytes) -> np.ndarray:
    """Offsets just after every newline that is outside double quotes (buf starts at a record boundary)."""
    data = np.frombuffer(buf, dtype=np.uint8)
    newlines = np.flatnonzero(data == NEWLINE)
    if newlines.size == 0:
        return newlines
    parity = quote_parity(data)  # the same quote rules as the page parser: a stray `55"` is text
    return newlines[parity[newlines] == 0] + 1


def cut_pages(
    stream: BinaryIO, *, start: int, first_line: int, rows: int, limit: int, chunk_size: int = CHUNK
) -> Iterator[PageSpan]:
    """Yield up to ``limit`` pages of ``rows`` records read from ``stream``, which begins at byte ``start``.

    Memory holds one page plus one chunk. The last page of the object may end without a newline.
    """
    buf = b""
    page_start, line, produced = start, first_line, 0
    eof = False
    while produced < limit:
        ends = record_ends(buf)
        if ends.size >= rows or (eof and buf):
            cut = int(ends[rows - 1]) if ends.size >= rows else len(buf)
            next_line = line + buf.count(b"\n", 0, cut)
            yield PageSpan(page_start, page_start + cut, line, next_line)
            line = next_line
            buf = buf[cut:]
            page_start += cut
            produced += 1
            continue
        if eof:
            return
        chunk = stream.read(chunk_size)
        if not chunk:
            eof = True
            continue
        buf += chunk
