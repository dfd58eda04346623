"""The local Athena runs UNLOAD and CTAS as Parquet with a data manifest (adapt/athena_unload.py)."""

from __future__ import annotations

import datetime
import io
import uuid

import pyarrow as pa
import pytest
from conftest import run_async
from ministack.services import athena, glue, s3
from pyarrow import parquet

from pipeline.tools.local.adapt import athena_unload
from pipeline.tools.local.adapt.athena_unload import parquet_bytes, parse, patch_athena, refusal, run_parquet_statement

COLUMNS = ["n", "s", "d", "ts", "b", "x"]
TYPES = ["bigint", "varchar", "date", "timestamp", "boolean", "double"]
ROWS = [
    [9223372036854775807, "", datetime.date(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59, 999999), True, 1e125],
    [None, None, None, None, None, None],
    [-1, "a\\tb", datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 1), False, -0.5],
]
WRANGLER_CTAS = (
    'CREATE TABLE "db"."temp_table_1"\nWITH(\n    external_location = \'s3://b/_athena/temp_table_1\',\n'
    "    format = 'PARQUET'\n)\nAS SELECT * FROM t"
)
PYATHENA_UNLOAD = (
    "\nUNLOAD (\n\tSELECT * FROM t WHERE s = ')'\n)\nTO 's3://b/_athena/unload/20240101/x/'\nWITH (\n"
    "\tformat = 'PARQUET',\n\tcompression = 'SNAPPY'\n)\n"
)


def test_the_statements_awswrangler_and_pyathena_send_are_recognised():
    ctas = parse(WRANGLER_CTAS)
    assert (ctas.kind, ctas.table, ctas.location, ctas.select) == (
        "CTAS",
        ("db", "temp_table_1"),
        "s3://b/_athena/temp_table_1",
        "SELECT * FROM t",
    )
    unload = parse(PYATHENA_UNLOAD)
    assert (unload.kind, unload.location, unload.select.strip()) == (
        "UNLOAD",
        "s3://b/_athena/unload/20240101/x/",
        "SELECT * FROM t WHERE s = ')'",
    )
    assert unload.properties == {"format": "PARQUET", "compression": "SNAPPY"}
    assert parse("CREATE TABLE t AS SELECT 1 WITH NO DATA").no_data
    for other in ("SELECT 'unload (x) to' AS a", "WITH t AS (SELECT 1) SELECT * FROM t", "SELECT * FROM unloaded"):
        assert parse(other) is None


@pytest.mark.parametrize(
    ("sql", "detail"),
    [
        ("UNLOAD (SELECT 1) TO 's3://b/x/' WITH (format = 'ORC')", "format 'ORC' asked"),
        ("CREATE TABLE t WITH (format = 'PARQUET', partitioned_by = ARRAY['dt']) AS SELECT 1", "partitioned_by asked"),
        ("CREATE TABLE t WITH (bucketed_by = ARRAY['a'], bucket_count = 2) AS SELECT 1", "bucketed_by asked"),
    ],
)
def test_what_is_not_run_is_refused_in_one_line_naming_the_working_options(sql, detail):
    reason = refusal(parse(sql))
    assert reason.startswith("NOT_SUPPORTED: ") and detail in reason and "ctas_approach=False" in reason
    assert "\n" not in reason


def test_parquet_keeps_each_type_null_and_empty_apart():
    table = parquet.read_table(io.BytesIO(parquet_bytes(COLUMNS, TYPES, ROWS)))
    assert [str(t) for t in table.schema.types] == ["int64", "string", "date32[day]", "timestamp[us]", "bool",
                                                    "double"]  # fmt: skip
    assert [list(r.values()) for r in table.to_pylist()] == ROWS


def test_a_value_no_arrow_type_fits_is_kept_as_its_text():
    body = parquet_bytes(["m"], ["array"], [[[1, "a"]], [None]], athena._datum_text)  # no Arrow list holds both
    assert parquet.read_table(io.BytesIO(body)).column("m").to_pylist() == ["[1, 'a']", None]


def test_ctas_writes_the_file_the_manifest_and_the_glue_table():
    bucket, database = f"results-{uuid.uuid4().hex[:12]}", f"db_{uuid.uuid4().hex[:8]}"
    assert s3._create_bucket(bucket, b"", {})[0] == 200
    glue._create_database({"DatabaseInput": {"Name": database}})
    athena._executions["q-ctas"] = {
        "QueryExecutionId": "q-ctas",
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/_athena/q-ctas.csv"},
        "Statistics": {"DataManifestLocation": ""},
    }
    ran = []

    async def run(select, db, catalog):
        ran.append((select, db))
        return {"columns": COLUMNS, "column_types": TYPES, "rows": [list(r) for r in ROWS]}

    sql = f"CREATE TABLE tmp WITH (external_location = 's3://{bucket}/_athena/tmp', format = 'PARQUET') AS SELECT 1"
    token = athena_unload._query_id.set("q-ctas")
    try:
        result = run_async(run_parquet_statement(parse(sql), database, None, run))
    finally:
        athena_unload._query_id.reset(token)
    assert ran == [("SELECT 1", database)] and result == {"columns": [], "column_types": [], "rows": []}
    manifest = athena._executions["q-ctas"]["Statistics"]["DataManifestLocation"]
    assert manifest == f"s3://{bucket}/_athena/q-ctas-manifest.csv"
    listed = s3._get_object_data(bucket, "_athena/q-ctas-manifest.csv").decode().split()
    assert listed == [f"s3://{bucket}/_athena/tmp/q-ctas_00000.snappy.parquet"]
    body = s3._get_object_data(bucket, "_athena/tmp/q-ctas_00000.snappy.parquet")
    assert [list(r.values()) for r in parquet.read_table(pa.BufferReader(body)).to_pylist()] == ROWS
    table = glue._tables[f"{database}/tmp"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/_athena/tmp"
    assert "ParquetHiveSerDe" in table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"]
    assert [c["Type"] for c in table["StorageDescriptor"]["Columns"]] == ["bigint", "string", "date", "timestamp",
                                                                          "boolean", "double"]  # fmt: skip


def test_the_patch_is_idempotent_and_leaves_other_queries_to_ministack():
    patch_athena()
    wrapped = athena._run_duckdb
    patch_athena()
    assert athena._run_duckdb is wrapped and wrapped._pipeline_unload
    with pytest.raises(ValueError, match=r"^NOT_SUPPORTED: .*format 'CSV' asked"):
        run_async(athena._run_duckdb("UNLOAD (SELECT 1) TO 's3://b/x/' WITH (format = 'CSV')", "default"))
    assert run_async(athena._run_duckdb("SELECT 1 AS a", "default"))["rows"] == [[1]]
