"""Run MiniStack with Athena's UNLOAD and CTAS as Parquet, the paths awswrangler and pyathena take by default.

awswrangler's `read_sql_query` wraps a query in `CREATE TABLE ... WITH (format = 'PARQUET') AS SELECT` (its
default `ctas_approach=True`) or in `UNLOAD (...) TO '...' WITH (format = 'PARQUET')` (`unload_approach=True`),
as pyathena's cursors do with `unload=True`, then read the Parquet files listed in the query's data manifest
(`Statistics.DataManifestLocation`). MiniStack 1.5 runs their text in DuckDB, which fails with an unrelated
parser or catalog error (docs/local-cloud.md).

`run_duckdb` wraps MiniStack's `_run_duckdb` (looked up by its query runner at call time): for an UNLOAD or a
CTAS it runs the inner SELECT through the original (so tables resolve as for any query), writes the rows as one
Parquet file with the result's types into MiniStack's S3 store, writes the manifest beside the result file
(`<id>-manifest.csv`, as Athena names it) and, for a CTAS, registers the Parquet table in Glue as Athena does.
What it does not run (another format, partitioning, bucketing) fails with one line naming the working options.
"""

from __future__ import annotations

import contextvars
import io
import re
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pipeline.tools.local.adapt.wrapping import replace

if TYPE_CHECKING:
    import pyarrow as pa

    from pipeline.tools.local.launcher import LaunchContext

_LEAD = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_UNLOAD = re.compile(
    _LEAD + r"unload\s*\((?P<select>.*)\)\s*to\s*'(?P<to>(?:[^']|'')*)'\s*with\s*\((?P<props>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_NAME = r'(?:"(?:[^"]|"")*"|[A-Za-z_][\w]*)'
_CTAS = re.compile(
    _LEAD + rf"create\s+table\s+(?P<name>{_NAME}(?:\s*\.\s*{_NAME})?)\s*(?:with\s*\((?P<props>.*?)\)\s*)?"
    r"as\s+(?P<select>.*?)(?P<nodata>\s+with\s+no\s+data)?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_PROPERTY = re.compile(r"(\w+)\s*=\s*('(?:[^']|'')*'|array\s*\[[^\]]*\]|[\w.]+)", re.IGNORECASE)
_NAME_PART = re.compile(_NAME)
NOT_SUPPORTED = (
    "NOT_SUPPORTED: the local Athena runs {what} only as unpartitioned, unbucketed Parquet ({detail}); query "
    "without it: awswrangler.athena.read_sql_query(..., ctas_approach=False, unload_approach=False), pyathena "
    "cursors without unload=True (docs/pandas.md)"
)
_query_id: contextvars.ContextVar[str] = contextvars.ContextVar("pipeline_athena_query_id", default="")


@dataclass(frozen=True)
class ParquetStatement:
    """An UNLOAD or CTAS: the SELECT it runs, where its files go, and its properties (lower-case names)."""

    kind: str  # "UNLOAD" or "CTAS"
    select: str
    location: str | None
    properties: dict[str, str]
    table: tuple[str | None, str] | None = None  # CTAS: (database or None, table)
    no_data: bool = False


def _unquote(value: str) -> str:
    if value.startswith("'") and value.endswith("'"):
        return value[1:-1].replace("''", "'")
    return value


def _properties(text: str | None) -> dict[str, str]:
    return {name.lower(): _unquote(value) for name, value in _PROPERTY.findall(text or "")}


def _identifier(part: str) -> str:
    return part[1:-1].replace('""', '"') if part.startswith('"') else part.lower()


def parse(query: str) -> ParquetStatement | None:
    """The UNLOAD or CTAS ``query`` is, else None."""
    unload = _UNLOAD.match(query)
    if unload:
        to = unload.group("to").replace("''", "'")
        return ParquetStatement("UNLOAD", unload.group("select"), to, _properties(unload.group("props")))
    ctas = _CTAS.match(query)
    if ctas:
        parts = [_identifier(p) for p in _NAME_PART.findall(ctas.group("name"))]
        table = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
        props = _properties(ctas.group("props"))
        return ParquetStatement("CTAS", ctas.group("select"), props.get("external_location"), props, table,
                                bool(ctas.group("nodata")))  # fmt: skip
    return None


def refusal(statement: ParquetStatement) -> str | None:
    """Why the local Athena does not run ``statement`` (one line), or None when it does."""
    fmt = (statement.properties.get("format") or "PARQUET").upper()
    if fmt != "PARQUET":
        return NOT_SUPPORTED.format(what=statement.kind, detail=f"format {fmt!r} asked")
    for key in ("partitioned_by", "bucketed_by", "bucket_count"):
        if key in statement.properties:
            return NOT_SUPPORTED.format(what=statement.kind, detail=f"{key} asked")
    return None


_ARROW_BY_ATHENA = {
    "boolean": "bool_", "tinyint": "int8", "smallint": "int16", "integer": "int32", "int": "int32",
    "bigint": "int64", "float": "float32", "real": "float32", "double": "float64", "varchar": "string",
    "date": "date32", "varbinary": "binary",
}  # fmt: skip
_GLUE_BY_ATHENA = {"varchar": "string", "integer": "int", "varbinary": "binary"}


def _column(values: list[Any], athena_type: str, text: Any) -> pa.Array:
    import pyarrow as pa

    name = _ARROW_BY_ATHENA.get(athena_type)
    arrow_type = pa.timestamp("us") if athena_type == "timestamp" else getattr(pa, name)() if name else None
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array([None if v is None else text(v) for v in values], pa.string())


def parquet_bytes(columns: list[str], types: list[str], rows: list[list[Any]], text: Any = str) -> bytes:
    """``rows`` as one Parquet file (Snappy), each column typed from its Athena type (text where none fits)."""
    import pyarrow as pa
    from pyarrow import parquet

    arrays = [_column([row[i] for row in rows], types[i], text) for i in range(len(columns))]
    buffer = io.BytesIO()
    parquet.write_table(pa.Table.from_arrays(arrays, names=columns), buffer, compression="snappy")
    return buffer.getvalue()


def _put(bucket: str, key: str, body: bytes, content_type: str) -> None:
    from ministack.services import s3

    response = s3._put_object(bucket, key, body, {"content-type": content_type, "content-length": str(len(body))})
    if isinstance(response, tuple) and response and int(response[0]) >= 300:
        raise ValueError(f"An error occurred while writing s3://{bucket}/{key} (HTTP {response[0]})")


def _split(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    return parsed.netloc, parsed.path.lstrip("/")


def _register_table(statement: ParquetStatement, database: str, location: str, columns: list[str],
                    types: list[str]) -> None:  # fmt: skip
    from ministack.services import glue

    db_name, table = statement.table or (None, "")
    table_input = {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"EXTERNAL": "TRUE", "classification": "parquet", "has_encrypted_data": "false"},
        "StorageDescriptor": {
            "Columns": [{"Name": c, "Type": _GLUE_BY_ATHENA.get(t, t)} for c, t in zip(columns, types, strict=True)],
            "Location": location.rstrip("/"),
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                "Parameters": {"serialization.format": "1"},
            },
        },
        "PartitionKeys": [],
    }
    status, _, body = glue._create_table({"DatabaseName": db_name or database, "TableInput": table_input})
    if status >= 300:
        raise ValueError(f"Glue CreateTable failed: {body[:200]!r}")


async def run_parquet_statement(statement: ParquetStatement, database: str, catalog: str | None, run: Any) -> dict:
    """Run the SELECT, write its Parquet file and the manifest, record the manifest on the execution."""
    from ministack.services import athena

    execution = athena._executions.get(_query_id.get()) or {}
    query_id = execution.get("QueryExecutionId") or _query_id.get() or "query"
    result_location = execution.get("ResultConfiguration", {}).get("OutputLocation", "")
    result_dir = result_location.rsplit("/", 1)[0] + "/" if result_location else ""
    location = statement.location or f"{result_dir}tables/{query_id}/"
    results = await run(statement.select, database, catalog)
    columns, types, rows = results["columns"], results.get("column_types") or [], results["rows"]
    if statement.no_data:
        rows = []
    bucket, prefix = _split(location)
    files: list[str] = []
    if rows:
        key = f"{prefix.rstrip('/')}/{query_id}_00000.snappy.parquet".lstrip("/")
        _put(bucket, key, parquet_bytes(columns, types, rows, athena._datum_text), "application/octet-stream")
        files.append(f"s3://{bucket}/{key}")
    if statement.kind == "CTAS":
        _register_table(statement, database, location, columns, types)
    if result_location:
        manifest = result_location.removesuffix(".csv") + "-manifest.csv"
        manifest_bucket, manifest_key = _split(manifest)
        _put(manifest_bucket, manifest_key, "".join(f"{f}\n" for f in files).encode(), "text/csv")
        execution.setdefault("Statistics", {})["DataManifestLocation"] = manifest
    return {"columns": [], "column_types": [], "rows": []}


def patch_athena() -> None:
    """Run UNLOAD and CTAS in MiniStack's Athena as Parquet (idempotent)."""
    from ministack.services import athena

    def wrap_run(original_run: Any) -> Any:
        async def run_duckdb(query: str, database: str, catalog: str | None = None) -> Any:
            statement = parse(query)
            if statement is None:
                return await original_run(query, database, catalog)
            reason = refusal(statement)
            if reason:
                raise ValueError(reason)
            return await run_parquet_statement(statement, database, catalog, original_run)

        return run_duckdb

    def wrap_execute(original_execute: Any) -> Any:
        async def execute_query(query_id: str, *args: Any, **kwargs: Any) -> Any:
            token = _query_id.set(query_id)
            try:
                return await original_execute(query_id, *args, **kwargs)
            finally:
                _query_id.reset(token)

        return execute_query

    replace(athena, "_run_duckdb", wrap_run, "_pipeline_unload")
    replace(athena, "_execute_query", wrap_execute, "_pipeline_unload")


def install(app: ModuleType, context: LaunchContext) -> None:
    patch_athena()
