"""Read an inline upload as a stream: `.gz` objects are gunzipped on the fly, within size and ratio limits.

Nothing here holds a whole object: gzip is inflated with `zlib.decompressobj` in pieces of at most
`PIECE` bytes (``max_length``), so a gzip bomb costs CPU up to the limit, never memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.runtime.errors import TerminalError

READ = 1 << 20  # bytes read per request
HEAD_BYTES = 1 << 20  # read first, to find the header
PIECE = 8 << 20  # largest piece of gunzipped output held at once
GZIP = 16 + zlib.MAX_WBITS  # gzip framing only: a raw zlib or deflate stream is not a .gz file


class Readable(Protocol):
    """What the readers and the page cutter read from: a file, an S3 streaming body, a `PieceReader`."""

    def read(self, size: int = -1, /) -> bytes: ...


class InvalidGzipError(TerminalError):
    """The object's key ends in `.gz` but its bytes are not valid gzip."""


class GzipLimitError(TerminalError):
    """A `.gz` object expands beyond what one inline invocation may read."""


@dataclass(frozen=True)
class GzipLimits:
    """How far a `.gz` upload may expand: in bytes, and (past ``ratio_floor`` bytes) as a multiple of its size."""

    max_bytes: int
    max_ratio: int
    ratio_floor: int = 64 << 20

    def check(self, inflated: int, consumed: int) -> None:
        """Raise `GzipLimitError` when ``inflated`` bytes out of ``consumed`` compressed ones break a limit."""
        if inflated > self.max_bytes:
            raise GzipLimitError(
                f"the file expands to more than {self.max_bytes:,} bytes when gunzipped, the limit for .gz uploads "
                "(they are read by one function, not paged); upload it uncompressed to have it paged, or split it"
            )
        if inflated > self.ratio_floor and inflated > self.max_ratio * max(consumed, 1):
            raise GzipLimitError(
                f"the file expands more than {self.max_ratio}-fold when gunzipped ({consumed:,} compressed bytes "
                f"gave {inflated:,}), the limit for .gz uploads past {self.ratio_floor:,} bytes: it looks like a "
                "decompression bomb; upload it uncompressed to have it paged"
            )


def gunzip(raw: Readable, limits: GzipLimits) -> Iterator[bytes]:
    """The gunzipped bytes of ``raw`` in pieces of at most `PIECE` bytes; members of a multi-member file follow
    each other and zero padding after the last is ignored, as the `gzip` module does."""
    inflater: Any = zlib.decompressobj(GZIP)
    consumed = inflated = 0
    started = False  # bytes of a member have been read
    padding = False  # after a member: zero bytes may follow, or another member
    while True:
        data = raw.read(READ)
        if not data:
            break
        while data:
            if padding:
                stripped = data.lstrip(b"\0")
                consumed += len(data) - len(stripped)
                data = stripped
                if not data:
                    break
                inflater, padding = zlib.decompressobj(GZIP), False
            started = True
            before = len(data)
            try:
                piece = inflater.decompress(data, PIECE)
            except zlib.error as exc:
                raise InvalidGzipError(f"the object ends in .gz but is not valid gzip: {exc}") from exc
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            consumed += before - len(data)
            inflated += len(piece)
            limits.check(inflated, consumed)
            if piece:
                yield piece
            if inflater.eof:
                padding = True
    if started and not padding:
        raise InvalidGzipError("the object ends in .gz but its gzip data is truncated")


class PieceReader:
    """A `read(n)` stream over an iterator of byte pieces (what the page cutter reads from)."""

    def __init__(self, pieces: Iterator[bytes], head: bytes = b"") -> None:
        self._pieces = pieces
        self._head = memoryview(head)

    def read(self, size: int = -1) -> bytes:
        """At most ``size`` bytes (fewer near the end of a piece); b"" at the end."""
        while not self._head:
            piece = next(self._pieces, None)
            if piece is None:
                return b""
            self._head = memoryview(piece)
        n = len(self._head) if size is None or size < 0 else size
        out, self._head = self._head[:n], self._head[n:]
        return bytes(out)


def read_head(stream: Readable, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of ``stream`` (fewer only at its end)."""
    parts: list[bytes] = []
    missing = size
    while missing > 0:
        part = stream.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def followed_by(head: bytes, stream: Readable) -> PieceReader:
    """``head``, then the rest of ``stream``."""
    return PieceReader(iter(lambda: stream.read(READ), b""), head)


def measure(raw: Readable, limits: GzipLimits) -> int:
    """The gunzipped size of ``raw``, checking every limit on the way, holding no more than one piece."""
    return sum(len(piece) for piece in gunzip(raw, limits))
