"""DynamoDB items as wire JSON, built column by column with pyarrow compute: no Python loop over rows.

Each item is the JSON text of an AttributeValue map, exactly what boto3 would send for the same values
(`{"pk":{"S":"orders#ORD-1"},"amount":{"N":"12.5"},...}`), so pages can be written with pre-built bodies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Array: TypeAlias = pa.Array | pa.ChunkedArray

_JSON_ESCAPES = (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t"))
_HANDLED_CONTROLS = {ord("\n"), ord("\r"), ord("\t")}


def byte_counts(values: Array) -> np.ndarray:
    """How often each byte value occurs in the text of ``values`` (a superset for sliced arrays)."""
    counts = np.zeros(256, dtype=np.int64)
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        data = chunk.buffers()[2]
        if data is not None and data.size:
            counts += np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    return counts


def replace_present(values: Array, pairs: Sequence[tuple[str, str]], counts: np.ndarray | None = None) -> Array:
    """``values`` with each (one-byte) ``old`` replaced by ``new``, skipping the scans for bytes never present."""
    counts = byte_counts(values) if counts is None else counts
    for old, new in pairs:
        if counts[ord(old)]:
            values = pc.replace_substring(values, old, new)
    return values


def json_escaped(values: Array) -> Array:
    """The text of each value escaped for the inside of a JSON string literal (nulls stay null).

    UTF-8 is kept as it is, as JSON allows; only the scans for characters that occur are run.
    """
    counts = byte_counts(values)
    if any(counts[b] for b in range(32) if b not in _HANDLED_CONTROLS):  # rare control characters: exact path
        texts = [None if v is None else json.dumps(v, ensure_ascii=False)[1:-1] for v in values.to_pylist()]
        return pa.array(texts, pa.string())
    return replace_present(values, _JSON_ESCAPES, counts)


def float_texts(values: Array) -> Array:
    """``repr()`` of each double, as boto3 users write N values: 12.5, 100.0, 1e-05, 1e+16."""
    text = pc.cast(values, pa.string())
    magnitude = pc.abs(values)
    plain = pc.or_(pc.and_(pc.greater_equal(magnitude, 1e-4), pc.less(magnitude, 1e16)), pc.equal(values, 0.0))
    exact = pc.and_(plain, pc.invert(pc.match_substring(text, "e")))  # Arrow agrees with repr() on these digits
    whole = pc.and_(exact, pc.invert(pc.match_substring(text, ".")))
    text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    odd = np.flatnonzero(pc.fill_null(pc.invert(exact), False).to_numpy(zero_copy_only=False))
    if odd.size:  # exponent notation (Arrow writes 1e+10 and 2.5e-7 where repr() writes 10000000000.0 and 2.5e-07)
        floats = values.to_pylist()
        texts = text.to_pylist()
        for i in odd.tolist():
            texts[i] = repr(floats[i])
        text = pa.array(texts, pa.string())
    return text


def iso_texts(values: Array, kind: str, *, zone: bool = True) -> Array:
    """Dates as `YYYY-MM-DD`, UTC timestamps as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (what strftime writes, 30× faster;
    without the `Z` when not ``zone``)."""
    if kind != "timestamp":
        return pc.cast(values, pa.string())
    if values.type.tz is not None:  # same instants without the zone: formatting skips the zone lookups
        values = pc.cast(values, pa.timestamp(values.type.unit))
    text = pc.utf8_replace_slice(pc.cast(values, pa.string()), 10, 11, "T")  # "YYYY-MM-DD HH:MM:SS.ffffff"
    return pc.binary_join_element_wise(text, "Z", "") if zone else text


@dataclass(frozen=True)
class Piece:
    """One attribute of every row: ``prefix + text + suffix``, or nothing where ``text`` is null."""

    prefix: str
    text: Array
    suffix: str


def attribute(name: str, kind: str, values: Array) -> Piece:
    """The attribute `"name":{"<type>":<value>}` of each row (absent where the value is null)."""
    label = json.dumps(name, ensure_ascii=False) + ":"
    if kind == "boolean":
        return Piece(label, pc.if_else(values, '{"BOOL":true}', '{"BOOL":false}'), "")
    if kind in ("integer", "number"):
        text = pc.cast(values, pa.string()) if kind == "integer" else float_texts(values)
        return Piece(label + '{"N":"', text, '"}')
    if kind == "timestamp":
        return Piece(label + '{"S":"', iso_texts(values, kind, zone=False), 'Z"}')
    text = iso_texts(values, kind) if kind == "date" else json_escaped(values)
    return Piece(label + '{"S":"', text, '"}')


def constants(values: dict[str, str]) -> str:
    """The text of string attributes that have the same value on every row."""
    return ",".join(
        f"{json.dumps(k, ensure_ascii=False)}:{json.dumps({'S': v}, ensure_ascii=False)}" for k, v in values.items()
    )


def objects(pieces: Sequence[Piece], tail: str = "") -> Array:
    """`{piece,piece,...,tail}` for each row, in one join: pieces without nulls go in as prefix, values and
    suffix; the others are joined first and drop out where null. The first piece must have no nulls."""
    args: list[Array | str] = []
    for i, piece in enumerate(pieces):
        prefix = ("," if i else "{") + piece.prefix
        if piece.text.null_count:
            args.append(pc.binary_join_element_wise(prefix, piece.text, piece.suffix, ""))
        else:
            args += [prefix, piece.text, piece.suffix]
    args.append(("," + tail if tail else "") + "}")
    merged: list[Array | str] = []
    for arg in args:  # adjacent literals become one
        if isinstance(arg, str) and merged and isinstance(merged[-1], str):
            merged[-1] += arg
        else:
            merged.append(arg)
    return pc.binary_join_element_wise(*merged, "", null_handling="replace", null_replacement="")
