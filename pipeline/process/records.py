"""Find CSV record boundaries in raw bytes, vectorised, honouring quoted fields with newlines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

QUOTE = ord('"')
NEWLINE = ord("\n")
CARRIAGE_RETURN = ord("\r")


@dataclass(frozen=True)
class RecordIndex:
    """Byte spans of the records in a buffer, with the physical line each starts on."""

    starts: np.ndarray  # int64 byte offsets (inclusive)
    ends: np.ndarray  # int64 byte offsets (exclusive, line terminator not included)
    lines: np.ndarray  # int64 1-based physical line numbers of each record's first line
    fields: np.ndarray  # int64 number of fields in each record
    unterminated: bool  # the last record opens a quote it never closes

    def __len__(self) -> int:
        return int(self.starts.size)


def scan_records(buf: bytes | memoryview, delimiter: bytes = b",", first_line: int = 1) -> RecordIndex:
    """Index every non-blank record of ``buf``: a record ends at a newline outside a quoted field.

    Quote parity is tracked with a wrapping uint8 cumulative sum (see `quote_parity`), so memory stays
    at a few bytes per input byte. Blank lines are skipped, as CSV readers do.
    """
    data = np.frombuffer(buf, dtype=np.uint8)
    if data.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RecordIndex(empty, empty, empty, empty, False)
    parity = quote_parity(data, delimiter[0])
    newlines = np.flatnonzero(data == NEWLINE)
    outside = newlines[parity[newlines] == 0]
    unterminated = bool(parity[-1])
    starts = np.concatenate(([0], outside + 1)).astype(np.int64)
    ends = np.concatenate((outside, [data.size])).astype(np.int64)
    if starts[-1] >= data.size:  # buffer ended with a newline: no trailing record
        starts, ends = starts[:-1], ends[:-1]
    # CRLF: the carriage return belongs to the terminator, not the record.
    if ends.size:
        has_cr = (ends > starts) & (data[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN)
        ends = ends - has_cr.astype(np.int64)
    lines = np.searchsorted(newlines, starts, side="left").astype(np.int64) + first_line
    nonblank = ends > starts
    starts, ends, lines = starts[nonblank], ends[nonblank], lines[nonblank]
    delim = np.flatnonzero(data == delimiter[0])
    delim = delim[parity[delim] == 0]
    fields = (np.searchsorted(delim, ends) - np.searchsorted(delim, starts) + 1).astype(np.int64)
    return RecordIndex(starts, ends, lines, fields, unterminated)


def quote_parity(data: np.ndarray, delimiter: int = ord(",")) -> np.ndarray:
    """1 for every byte inside a quoted field, as RFC 4180 readers (pyarrow, Python's csv) see it.

    A quote opens a quoted field only at the start of a field; inside an unquoted field it is text
    (`TV 55" screen`) and must not swallow the following records. Usually every quote is structural and
    one cumulative sum answers; otherwise a loop over the quotes alone (not the bytes) picks them out.
    """
    is_quote = data == QUOTE
    quotes = np.flatnonzero(is_quote)
    if quotes.size == 0:
        return np.zeros(data.size, dtype=np.uint8)
    if not _all_structural(data, quotes, delimiter):
        is_quote = np.zeros(data.size, dtype=bool)
        is_quote[_structural(data, quotes, delimiter)] = True
    return np.cumsum(is_quote, dtype=np.uint8) & 1


def _field_start(data: np.ndarray, positions: np.ndarray, delimiter: int) -> np.ndarray:
    before = data[np.maximum(positions - 1, 0)]
    return (positions == 0) | (before == delimiter) | (before == NEWLINE)


def _all_structural(data: np.ndarray, quotes: np.ndarray, delimiter: int) -> bool:
    """True if toggling on every quote is right: each opens at a field start and closes at a field end,
    or is half of a doubled quote ("") inside a quoted field."""
    openers, closers = quotes[0::2], quotes[1::2]
    opens_ok = _field_start(data, openers, delimiter) | (data[np.maximum(openers - 1, 0)] == QUOTE)
    after = closers + 1
    follower = data[np.minimum(after, data.size - 1)]
    ends = (follower == delimiter) | (follower == NEWLINE) | (follower == CARRIAGE_RETURN) | (follower == QUOTE)
    return bool(opens_ok.all() and (ends | (after >= data.size)).all())


def _structural(data: np.ndarray, quotes: np.ndarray, delimiter: int) -> list[int]:
    """Positions of the quotes that open or close a quoted field; the others are text."""
    at_start = _field_start(data, quotes, delimiter).tolist()
    positions = quotes.tolist()
    out: list[int] = []
    inside, i = False, 0
    while i < len(positions):
        p = positions[i]
        if inside and i + 1 < len(positions) and positions[i + 1] == p + 1:  # "" inside quotes: a quote character
            i += 2
            continue
        if inside or at_start[i]:
            out.append(p)
            inside = not inside
        i += 1
    return out


def split_header(buf: bytes) -> tuple[bytes, int]:
    """The header record of ``buf`` (without terminator) and the offset where the data starts."""
    index = scan_records(buf[: 1 << 20] if len(buf) > (1 << 20) else buf)
    if not len(index):
        return b"", len(buf)
    start, end = int(index.starts[0]), int(index.ends[0])
    rest = end
    while rest < len(buf) and buf[rest] in (CARRIAGE_RETURN, NEWLINE):
        rest += 1
        if buf[rest - 1] == NEWLINE:
            break
    return buf[start:end], rest
