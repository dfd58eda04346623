"""The output text format: the same bytes back from every engine that reads it (docs/adr/0004).

One record per line (LF), fields separated by TAB, no quoting, no header. The table declares no escape
character, so Hive's LazySimpleSerDe, Trino (Athena) and DuckDB (the local Athena) all return a field's
bytes as they are. NULL is `\\N` (`serialization.null.format`), so an empty string stays an empty string.
In text values the five characters a text table cannot carry under both Hive's and Trino's rules are
written as visible sequences: backslash `\\\\`, TAB `\\t`, LF `\\n`, CR `\\r`, and U+FEFF `\\ufeff` (the
readers drop a byte-order mark at the start of a file). `decode_text`, `decode_sql` and `split_line`
reverse it. Timestamps are UTC `YYYY-MM-DD HH:MM:SS.ffffff`, dates `YYYY-MM-DD`.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.runtime.contract import Contract
from pipeline.runtime.sinks.item_json import byte_counts

DELIMITER = "\t"
NULL_TEXT = "\\N"
EXTENSION = ".tsv"
SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
SERDE_PARAMETERS = {
    "field.delim": DELIMITER,
    "serialization.format": DELIMITER,
    "serialization.null.format": NULL_TEXT,
}
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

# (character, sequence), the backslash first so that the sequences written after it are not doubled.
ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\ufeff", "\\ufeff"))
_SEQUENCE = re.compile(r"\\(\\|t|n|r|ufeff)")
_DECODED = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "ufeff": "\ufeff"}
_BOM_LEAD = 0xEF  # the first byte of U+FEFF in UTF-8 (and of other characters: it only gates the scan)


def escape_text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Write backslash, TAB, LF, CR and U+FEFF as `\\\\`, `\\t`, `\\n`, `\\r`, `\\ufeff` (nulls stay null).

    Only the scans for characters that occur are run: most columns need none.
    """
    counts = byte_counts(values)
    for char, sequence in ESCAPES:
        lead = _BOM_LEAD if char == "\ufeff" else ord(char)
        if counts[lead]:
            values = pc.replace_substring(values, char, sequence)
    return values


def decode_text(text: str) -> str:
    """The stored value behind a text field as every engine returns it (the inverse of `escape_text`)."""
    return _SEQUENCE.sub(lambda m: _DECODED[m[1]], text) if "\\" in text else text


def decode_texts(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`decode_text` of every value, vectorised (for a column of query results); nulls stay null.

    Splits on `\\\\`, decodes the other four sequences in the pieces and joins them with one backslash,
    like `decode_sql`.
    """
    if isinstance(values, pa.ChunkedArray):
        return pa.chunked_array([decode_texts(chunk) for chunk in values.chunks], pa.string())
    if not byte_counts(values)[ord("\\")]:
        return values
    pieces = pc.split_pattern(values, "\\\\")
    flat = pieces.values  # with the offsets as they are: right for a sliced array too
    for char, sequence in ESCAPES[1:]:
        flat = pc.replace_substring(flat, sequence, char)
    rebuilt = pa.ListArray.from_arrays(pieces.offsets, flat, mask=pieces.is_null())
    return pc.binary_join(rebuilt, "\\")


def decode_sql(column: str, engine: Literal["athena", "duckdb"] = "athena") -> str:
    """A SQL expression giving the stored text of string column ``column`` (NULL stays NULL).

    It splits on `\\\\` (each piece then holds backslashes only as the start of `\\t`, `\\n`, `\\r` or
    `\\ufeff`), decodes those in each piece and joins the pieces with a single backslash. ``athena`` is
    Trino SQL (Athena engine v3); ``duckdb`` is the local Athena's dialect (DuckDB 1.3 or later).
    """
    piece = "p"
    for sequence, code in (("\\t", 9), ("\\n", 10), ("\\r", 13), ("\\ufeff", 0xFEFF)):
        piece = f"replace({piece}, '{sequence}', chr({code}))"
    if engine == "athena":
        return f"array_join(transform(split({column}, '\\\\'), p -> {piece}), '\\')"
    if engine == "duckdb":
        return f"array_to_string(list_transform(string_split({column}, '\\\\'), lambda p: {piece}), '\\')"
    raise ValueError(f"engine must be 'athena' or 'duckdb', not {engine!r}")


def _field_text(values: pa.ChunkedArray | pa.Array, kind: str) -> pa.ChunkedArray | pa.Array:
    if kind == "string":
        return escape_text(values)
    if kind in ("timestamp", "date"):
        return _iso_text(values)
    return pc.cast(values, pa.string())


def _iso_text(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """`YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, Hive's format); a plain cast, 3x faster than strftime."""
    if pa.types.is_timestamp(values.type) and values.type.tz is not None:
        values = pc.cast(values, pa.timestamp(values.type.unit))  # UTC wall time, as strftime printed it
    return pc.cast(values, pa.string())


def render_lines(table: pa.Table, contract: Contract) -> pa.Array:
    """One output line (without terminator) per row of a typed, validated table."""
    columns = [_field_text(table.column(c.name), c.kind) for c in contract.columns]
    if len(columns) == 1:
        return pc.fill_null(columns[0], NULL_TEXT)
    return pc.binary_join_element_wise(*columns, DELIMITER, null_handling="replace", null_replacement=NULL_TEXT)


def _joined(lines: pa.Array) -> memoryview:
    """The UTF-8 bytes of ``lines`` (no nulls), each followed by LF, in one buffer (no Python string)."""
    terminated = pc.binary_join_element_wise(lines, "", "\n")  # LF is the separator: line + LF + ""
    offsets = np.frombuffer(
        terminated.buffers()[1], dtype=np.int32, count=len(terminated) + 1, offset=4 * terminated.offset
    )
    data = terminated.buffers()[2]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])] if data is not None else memoryview(b"")


def render(lines: pa.Array | pa.ChunkedArray) -> bytes:
    """The bytes of a file holding ``lines``, each terminated by LF."""
    if len(lines) == 0:
        return b""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    return bytes(_joined(lines))


def partition_groups(values: pa.Array) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Rows grouped by partition value without one scan per value: the distinct values (in order of first
    appearance), the row order that groups them (stable: each group keeps its rows' order) and each group's size.
    ``values`` has no nulls."""
    encoded = pc.dictionary_encode(values)
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    return encoded.dictionary.to_pylist(), order, np.bincount(codes, minlength=len(encoded.dictionary))


def render_partitions(
    lines: pa.Array | pa.ChunkedArray, values: pa.Array | pa.ChunkedArray
) -> dict[str, tuple[bytes, int]]:
    """``render`` of the lines of each distinct value of ``values`` (their order kept), with their count, keyed
    by value in order of first appearance: one stable sort and one join for the page, not one scan per value."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if len(lines) == 0:
        return {}
    if values.null_count:  # no partition value to file them under: every value on its own scan
        selected = {v: pc.filter(lines, pc.equal(values, v)) for v in pc.unique(values).to_pylist()}
        return {v: (render(chosen), len(chosen)) for v, chosen in selected.items()}
    dictionary, order, counts = partition_groups(values)
    grouped = lines.take(pa.array(order))
    whole = _joined(grouped)
    ends = np.cumsum(np.asarray(pc.binary_length(grouped).to_numpy(zero_copy_only=False), dtype=np.int64) + 1)
    last_row = np.cumsum(counts)
    files: dict[str, tuple[bytes, int]] = {}
    start = 0
    for value, count, last in zip(dictionary, counts.tolist(), last_row.tolist(), strict=True):
        end = int(ends[last - 1]) if count else start
        files[value] = (bytes(whole[start:end]), count)
        start = end
    return files


def partition_values(table: pa.Table, contract: Contract) -> pa.Array | None:
    """The partition value (`YYYY-MM-DD` or `YYYY-MM`) of every row, or None if the dataset has no partition."""
    partition = contract.partition
    if partition is None:
        return None
    width = 10 if partition.granularity == "day" else 7
    return pc.utf8_slice_codeunits(_iso_text(table.column(partition.column)), 0, width)


def records(body: str) -> list[str]:
    """The lines of an output object as every engine cuts them: at LF only (the format writes no other)."""
    return body.split("\n")[:-1] if body else []


def split_line(line: str) -> list[str | None]:
    """The values of one output line: split on TAB, `\\N` is NULL, text decoded (`decode_text`)."""
    return [None if field == NULL_TEXT else decode_text(field) for field in line.split(DELIMITER)]
