"""The Parquet output format (`"x-format": "parquet"`): typed columns, exact text, no encoding (docs/adr/0004).

One file per partition per page, like the text format, with the contract's columns in schema order and their
Arrow types; the partition (`dt=...`) is in the folder name only (Hive layout). Snappy compression.

| contract | Arrow | Parquet | Glue / Athena |
|---|---|---|---|
| string | string | BYTE_ARRAY (UTF8) | string |
| integer | int64 | INT64 | bigint |
| number | float64 | DOUBLE | double |
| boolean | bool | BOOLEAN | boolean |
| date | date32 | INT32 (DATE) | date |
| date-time | timestamp[us] (UTC wall time) | INT96 | timestamp |

Timestamps are INT96, the convention Hive, Impala, Spark (`outputTimestampType`'s default) and Athena's own
CTAS write: Hive 2.x's ParquetHiveSerDe, which `tests/conformance` runs, cannot read an INT64 timestamp
(`LongWritable cannot be cast to TimestampWritable`), and Trino (Athena) and DuckDB read both. The price:
Parquet keeps no min/max statistics for INT96, so a timestamp range is pruned by partition, not by row group.

`pyarrow.parquet` is imported inside the functions that need it: the text format's Lambdas never load it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.runtime.contract import Contract

EXTENSION = ".parquet"
SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
SERDE_PARAMETERS = {"serialization.format": "1"}
INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
COMPRESSION = "snappy"
ROW_GROUP_ROWS = 1 << 20  # pyarrow's default; a page (50,000 rows by default) is one row group

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
WRITE_OPTIONS: dict[str, Any] = {
    "compression": COMPRESSION,
    "use_deprecated_int96_timestamps": True,  # see the module docstring
    "write_statistics": True,
}


def arrow_schema(contract: Contract) -> pa.Schema:
    """The schema of a dataset's Parquet files: every contract column, in order, each OPTIONAL (a Hive column is
    nullable, and a column absent from a file's header is NULL whatever its type says)."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind]) for c in contract.columns])


def _column(values: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    if kind == "timestamp" and pa.types.is_timestamp(values.type) and values.type.tz is not None:
        values = values.cast(pa.timestamp(values.type.unit))  # the UTC wall time, as the text format writes it
    return values.cast(ARROW_TYPES[kind])


def typed_table(table: pa.Table, contract: Contract) -> pa.Table:
    """The contract's columns of a validated table, with the file schema's types (extra columns dropped)."""
    schema = arrow_schema(contract)
    return pa.Table.from_arrays([_column(table.column(c.name), c.kind) for c in contract.columns], schema=schema)


def _write(tables: Iterable[pa.Table], schema: pa.Schema) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    with pq.ParquetWriter(sink, schema, **WRITE_OPTIONS) as writer:
        for table in tables:
            if table.num_rows:
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    return sink.getvalue()


def file_bytes(table: pa.Table, contract: Contract) -> bytes:
    """One Parquet file holding the rows of ``table`` (validated rows, typed as `validate_page` leaves them)."""
    typed = typed_table(table, contract)
    return _write([typed], typed.schema)


def read(body: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of a Parquet output file (timestamps as microseconds: INT96 holds years 1..9999 exactly)."""
    import pyarrow.parquet as pq

    return pq.read_table(pa.BufferReader(body), columns=columns, coerce_int96_timestamp_unit="us")


def row_count(body: bytes) -> int:
    """Rows of a Parquet file, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(pa.BufferReader(body)).metadata.num_rows)


def merge_bounded(
    sources: Iterable[tuple[bytes, np.ndarray | None]], max_bytes: float
) -> Iterator[tuple[bytes, int]]:
    """The rows of ``sources`` (a file's bytes and its keep mask, None keeping all) in order, as Parquet files of
    about ``max_bytes`` at most: a file ends before the input that would take it past the limit (a file holds
    one input's rows at least). Yields ``(body, rows)``; memory holds one input and the file being written."""
    import pyarrow.parquet as pq

    sink: io.BytesIO | None = None
    writer: Any = None
    schema: pa.Schema | None = None
    rows = 0

    def finish() -> tuple[bytes, int]:
        assert writer is not None and sink is not None
        writer.close()
        return sink.getvalue(), rows

    for body, mask in sources:
        table = read(body)
        if mask is not None:
            if len(mask) != table.num_rows:
                raise ValueError(f"a mask of {len(mask)} rows for a file of {table.num_rows}")
            table = table.filter(pa.array(mask, pa.bool_()))
        if schema is None:
            schema = table.schema
        elif not table.schema.equals(schema):
            raise ValueError(f"files of different schemas cannot be merged: {table.schema} vs {schema}")
        if not table.num_rows:
            continue
        if writer is not None and rows and sink is not None and sink.tell() + len(body) > max_bytes:
            yield finish()
            writer = None
        if writer is None:
            sink, rows = io.BytesIO(), 0
            writer = pq.ParquetWriter(sink, schema, **WRITE_OPTIONS)
        writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        rows += table.num_rows
    if writer is not None and rows:
        yield finish()
