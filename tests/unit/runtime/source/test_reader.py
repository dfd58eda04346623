"""Gunzipping an upload as a stream: the same bytes as the gzip module, in bounded pieces, within limits."""

from __future__ import annotations

import gzip
import io
import random
import zlib

import pytest

from pipeline.runtime.source.reader import (
    PIECE,
    GzipLimitError,
    GzipLimits,
    InvalidGzipError,
    PieceReader,
    followed_by,
    gunzip,
    measure,
    read_head,
)

ROOMY = GzipLimits(max_bytes=1 << 40, max_ratio=10**9)


def _gunzip(data: bytes, limits: GzipLimits = ROOMY) -> bytes:
    return b"".join(gunzip(io.BytesIO(data), limits))


@pytest.mark.parametrize(
    "data",
    [
        gzip.compress(b"a,b\n1,2\n"),
        gzip.compress(b"first member\n") + gzip.compress(b"second member\n"),  # `cat a.gz b.gz`
        gzip.compress(b"padded\n") + b"\0" * 1000,  # zero padding after the last member (tape blocks)
        gzip.compress(b"a\n") + b"\0" * 3 + gzip.compress(b"b\n"),
        gzip.compress(random.Random(7).randbytes(3_000_000)),
        gzip.compress(b""),
        b"",
    ],
    ids=["one-member", "two-members", "zero-padding", "padding-between", "incompressible", "empty-gzip", "empty"],
)
def test_gunzip_gives_the_bytes_the_gzip_module_gives(data):
    assert _gunzip(data) == gzip.decompress(data)


@pytest.mark.parametrize(
    "data",
    [
        b"not gzip at all\n",
        gzip.compress(b"a,b\n1,2\n")[:-5],  # truncated
        gzip.compress(b"a\n") + b"trailing garbage",
        zlib.compress(b"a zlib stream is not a gzip file"),
    ],
    ids=["text", "truncated", "trailing-garbage", "zlib"],
)
def test_invalid_gzip_fails_as_the_gzip_module_does(data):
    with pytest.raises((OSError, EOFError)):
        gzip.decompress(data)
    with pytest.raises(InvalidGzipError, match=r"the object ends in \.gz but"):
        _gunzip(data)


def test_output_comes_in_pieces_no_larger_than_a_piece():
    data = gzip.compress(b"x" * (3 * PIECE + 5))
    pieces = list(gunzip(io.BytesIO(data), ROOMY))
    assert max(len(p) for p in pieces) <= PIECE and sum(map(len, pieces)) == 3 * PIECE + 5


def test_a_file_expanding_past_the_size_limit_fails_before_it_is_all_inflated():
    data = gzip.compress(b"0123456789" * 3_000_000)  # 30 MB
    limits = GzipLimits(max_bytes=20_000_000, max_ratio=10**9)
    seen = 0
    with pytest.raises(GzipLimitError, match=r"expands to more than 20,000,000 bytes when gunzipped") as error:
        for piece in gunzip(io.BytesIO(data), limits):
            seen += len(piece)
    assert seen <= 20_000_000 + PIECE
    assert "upload it uncompressed to have it paged" in str(error.value) and len(str(error.value)) < 300


def test_a_bomb_fails_on_its_ratio_once_past_the_floor():
    field = b"x" * 80_000_000  # one 80 MB field in 78 KB of gzip
    data = gzip.compress(b'order_id,note\nORD-1,"' + field + b'"\n', 6)
    assert len(data) < 100_000
    with pytest.raises(GzipLimitError, match=r"expands more than 200-fold when gunzipped") as error:
        measure(io.BytesIO(data), GzipLimits(max_bytes=1 << 40, max_ratio=200))
    assert "decompression bomb" in str(error.value)


def test_the_ratio_is_not_held_against_small_files():
    data = gzip.compress(b"," * 10_000_000)  # 1000-fold, but only 10 MB
    assert measure(io.BytesIO(data), GzipLimits(max_bytes=1 << 40, max_ratio=2)) == 10_000_000


def test_piece_reader_serves_reads_of_any_size_across_pieces():
    reader = PieceReader(iter([b"abc", b"", b"defgh"]), b"01")
    assert read_head(reader, 4) == b"01ab"
    assert reader.read(100) == b"c"
    assert reader.read(2) == b"de"
    assert reader.read(-1) == b"fgh"
    assert reader.read(5) == b""


def test_followed_by_puts_the_head_back_in_front_of_the_stream():
    stream = io.BytesIO(b"rest of the file")
    assert read_head(followed_by(b"head, ", stream), 1000) == b"head, rest of the file"
