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


def line_breaks(data: np.ndarray) -> np.ndarray:
    """Offsets of every line break: each LF, and each CR not followed by LF (old Mac line endings).

    Python's csv module and pyarrow both end a line at LF, CR LF or a lone CR; so does every scan here.
    A CR at the very end of ``data`` counts as a lone CR.
    """
    newlines = np.flatnonzero(data == NEWLINE)
    if isinstance(data.base, bytes) and b"\r" not in data.base:  # memchr over the source: the usual case
        return newlines
    returns = np.flatnonzero(data == CARRIAGE_RETURN)
    if returns.size == 0:
        return newlines
    follower = data[np.minimum(returns + 1, data.size - 1)]
    lone = returns[(follower != NEWLINE) | (returns + 1 >= data.size)]
    if lone.size == 0:  # CR LF throughout: the LF is the break
        return newlines
    return np.sort(np.concatenate((newlines, lone)))


def count_line_breaks(buf: bytes | memoryview) -> int:
    """How many line breaks ``buf`` holds (LF, CR LF and lone CR each count once)."""
    return int(line_breaks(np.frombuffer(buf, dtype=np.uint8)).size)


def scan_records(buf: bytes | memoryview, delimiter: bytes = b",", first_line: int = 1) -> RecordIndex:
    """Index every non-blank record of ``buf``: a record ends at a line break outside a quoted field.

    Quote parity is tracked with a wrapping uint8 cumulative sum (see `quote_parity`), so memory stays
    at a few bytes per input byte. Blank lines are skipped, as CSV readers do.
    """
    data = np.frombuffer(buf, dtype=np.uint8)
    if data.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RecordIndex(empty, empty, empty, empty, False)
    parity = quote_parity(data, delimiter[0])
    breaks = line_breaks(data)
    outside = breaks[parity[breaks] == 0]
    unterminated = bool(parity[-1])
    starts = np.concatenate(([0], outside + 1)).astype(np.int64)
    ends = np.concatenate((outside, [data.size])).astype(np.int64)
    if starts[-1] >= data.size:  # buffer ended with a line break: no trailing record
        starts, ends = starts[:-1], ends[:-1]
    # CRLF: the carriage return belongs to the terminator, not the record.
    if ends.size:
        has_cr = (ends > starts) & (data[np.maximum(ends - 1, 0)] == CARRIAGE_RETURN)
        ends = ends - has_cr.astype(np.int64)
    lines = np.searchsorted(breaks, starts, side="left").astype(np.int64) + first_line
    nonblank = ends > starts
    starts, ends, lines = starts[nonblank], ends[nonblank], lines[nonblank]
    delim = np.flatnonzero(data == delimiter[0])
    delim = delim[parity[delim] == 0]
    fields = (np.searchsorted(delim, ends) - np.searchsorted(delim, starts) + 1).astype(np.int64)
    return RecordIndex(starts, ends, lines, fields, unterminated)


def quote_parity(
    data: np.ndarray, delimiter: int = ord(","), *, inside: bool = False, before: int = NEWLINE
) -> np.ndarray:
    """1 for every byte inside a quoted field, as RFC 4180 readers (pyarrow, Python's csv) see it.

    A quote opens a quoted field only at the start of a field; inside an unquoted field it is text
    (`TV 55" screen`) and must not swallow the following records. Usually every quote is structural and
    one cumulative sum answers; otherwise a loop over the quotes alone (not the bytes) picks them out.
    ``inside`` and ``before`` continue the scan of an earlier chunk: ``before`` is the byte preceding ``data``,
    `QUOTE` only if that quote closed a field (a quote right after it makes the pair `""`), never a text quote.
    """
    is_quote = data == QUOTE
    quotes = np.flatnonzero(is_quote)
    if quotes.size == 0:
        return np.full(data.size, int(inside), dtype=np.uint8)
    if not _all_structural(data, quotes, delimiter, inside, before):
        is_quote = np.zeros(data.size, dtype=bool)
        is_quote[_structural(data, quotes, delimiter, inside, before)] = True
    parity = np.cumsum(is_quote, dtype=np.uint8)
    if inside:
        parity += 1
    return parity & 1


def _preceding(data: np.ndarray, positions: np.ndarray, before: int) -> np.ndarray:
    """The byte before each position, ``before`` for position 0."""
    previous = data[np.maximum(positions - 1, 0)]
    return np.where(positions == 0, before, previous) if positions.size and positions[0] == 0 else previous


def _field_start(data: np.ndarray, positions: np.ndarray, delimiter: int, before: int) -> np.ndarray:
    previous = _preceding(data, positions, before)
    start = (previous == delimiter) | (previous == NEWLINE) | (previous == CARRIAGE_RETURN)
    if before == QUOTE and positions.size and positions[0] == 0:  # reopens right after a closing quote: `""`
        start[0] = True
    return start


def _all_structural(data: np.ndarray, quotes: np.ndarray, delimiter: int, inside: bool, before: int) -> bool:
    """True if toggling on every quote is right: each opens at a field start and closes at a field end,
    or is half of a doubled quote ("") inside a quoted field."""
    openers, closers = (quotes[1::2], quotes[0::2]) if inside else (quotes[0::2], quotes[1::2])
    opens_ok = _field_start(data, openers, delimiter, before) | (_preceding(data, openers, before) == QUOTE)
    after = closers + 1
    follower = data[np.minimum(after, data.size - 1)]
    ends = (follower == delimiter) | (follower == NEWLINE) | (follower == CARRIAGE_RETURN) | (follower == QUOTE)
    return bool(opens_ok.all() and (ends | (after >= data.size)).all())


def _structural(data: np.ndarray, quotes: np.ndarray, delimiter: int, inside: bool, before: int) -> list[int]:
    """Positions of the quotes that open or close a quoted field; the others are text."""
    at_start = _field_start(data, quotes, delimiter, before).tolist()
    positions = quotes.tolist()
    out: list[int] = []
    i = 0
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
    rest = end  # past one terminator: CR LF, LF or a lone CR
    if rest < len(buf) and buf[rest] == CARRIAGE_RETURN:
        rest += 1
    if rest < len(buf) and buf[rest] == NEWLINE:
        rest += 1
    return buf[start:end], rest
