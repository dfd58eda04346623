"""The pandas and Arrow clients a data engineer queries with, unmodified, against the local cloud (issue 14).

A stage of its own (`e2epandas`) holds one dataset with a nullable column of every type; one file of edge cases
(empty string and NULL, TAB, LF, CRLF, backslashes typed by a user, `\\N`, quotes, unicode beyond the BMP,
int64 bounds, 2**53 + 1, doubles with exponents, dates 0001..9999, timestamps with offsets, NULL in every type)
goes through the pipeline. The oracle is DuckDB reading the uploaded file with explicit types. Every client
must return exactly that, except where the client itself cannot tell values apart on AWS either (docs/pandas.md):

* `pipeline.query_df` / `query_arrow`: exactly, text decoded, NULL and '' apart;
* pyathena's default cursor (`GetQueryResults`): exactly, the encoded text;
* pyathena `PandasCursor`: the encoded text (docs/output-format.md), '' read as missing (pandas' `na_values`);
* pyathena `ArrowCursor`: the encoded text, NULL text read as '' (pyathena's `strings_can_be_null=False`);
* `awswrangler.athena.read_sql_query(..., ctas_approach=False)`: the encoded text, '' read as missing;
* the Parquet paths (awswrangler's default CTAS and its UNLOAD, pyathena's `unload=True`): the encoded text,
  NULL and '' apart; what the local Athena does not run (ORC, partitioning) fails with one clear line.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline.runtime.contract.loader import load_contract
from pipeline.runtime.sinks.text_format import decode_text
from tests.e2e.conftest import deploy_stage, ops

pytestmark = pytest.mark.e2e
STAGE = "e2epandas"
DATASET = "edge"
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": DATASET,
    "type": "object",
    "properties": {
        "rid": {"type": "integer"},
        "s": {"type": ["string", "null"]},
        "n": {"type": ["integer", "null"]},
        "x": {"type": ["number", "null"]},
        "b": {"type": ["boolean", "null"]},
        "d": {"type": ["string", "null"], "format": "date"},
        "ts": {"type": ["string", "null"], "format": "date-time"},
        "day": {"type": "string", "format": "date"},
    },
    "required": ["rid", "day"],
    "x-primary-key": ["rid"],
    "x-partition": {"column": "day", "granularity": "day", "name": "dt"},
    "x-null-values": ["NULL"],  # an empty field is an empty string
}
HEADER = ["rid", "s", "n", "x", "b", "d", "ts", "day"]
ROWS = [
    ["1", "plain", "0", "0", "true", "2024-01-01", "2024-01-01T00:00:00Z", "2024-01-01"],
    ["2", "", "-9223372036854775808", "-0.5", "false", "0001-01-01", "0001-01-01T00:00:00Z", "2024-01-01"],
    ["3", "NULL", "9223372036854775807", "1e125", "TRUE", "9999-12-31", "9999-12-31T23:59:59.999999Z", "2024-01-01"],
    ["4", "tab\there", "NULL", "NULL", "NULL", "NULL", "NULL", "2024-01-02"],
    ["5", "line\nbreak", "9007199254740993", "0.30000000000000004", "0", "1582-10-15", "2024-03-01T00:30:00+01:00",
     "2024-01-02"],
    ["6", "crlf\r\nend", "-1", "1e-130", "1", "1970-01-01", "2024-03-01T10:00:00.123456Z", "2024-01-02"],
    ["7", "back\\slash \\n typed \\N trailing\\", "42", "3.5", "f", "2000-02-29", "2024-06-30T23:59:59.999Z",
     "2024-12-31"],
    ["8", "😀 ünïcödé 中文 \u2028 sep", "7", "-1e-5", "t", "1999-12-31", "1900-01-01T00:00:00+01:00", "2024-12-31"],
    ["9", '"quoted", comma', "NULL", "NULL", "NULL", "NULL", "NULL", "2024-12-31"],
    ["10", " lead and trail ", "1", "2", "no", "2024-02-29", "2024-01-01T00:00:00.5+05:30", "2025-01-01"],
    ["11", "\\N", "NULL", "0", "yes", "NULL", "2024-01-01T00:00:00.000001Z", "2025-01-01"],
    ["12", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "2025-01-01"],
]  # fmt: skip
SQL = "SELECT rid, s, n, x, b, d, ts FROM edge ORDER BY rid"


def _csv_bytes() -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows([HEADER, *ROWS])
    return out.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def edge(local_cloud, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The stage with the edge file ingested, and the source file's path."""
    schemas = tmp_path_factory.mktemp("pandas-schemas")
    (schemas / f"{DATASET}.schema.json").write_text(json.dumps(SCHEMA))
    source = tmp_path_factory.mktemp("pandas-source") / "edge.csv"
    source.write_bytes(_csv_bytes())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_SCHEMAS_DIR", str(schemas))  # the build bundles it; query_df reads the contract
        patch.setenv("PIPELINE_LOCAL", "1")  # query_df(stage=STAGE) addresses the local cloud's stage
        load_contract.cache_clear()
        stack = deploy_stage(local_cloud, STAGE)
        import boto3

        key = f"{DATASET}/edge.csv"
        boto3.client("s3").put_object(Bucket=stack["IngestBucket"], Key=key, Body=source.read_bytes())
        job = ops.wait_for(stack, [{"key": key, "version_id": ""}], lambda _: None, 600)[0]
        assert (job["status"], int(job["rows_valid"])) == ("COMPLETE", len(ROWS)), job
        yield {"stack": stack, "source": source}
    load_contract.cache_clear()


# ------------------------------------------------------------------ the oracle and value normalisation


def _oracle(source: Path) -> list[tuple[Any, ...]]:
    """DuckDB on the uploaded file, every column typed explicitly; timestamps to UTC as the pipeline stores them."""
    con = duckdb.connect()
    types = {"rid": "BIGINT", "s": "VARCHAR", "n": "BIGINT", "x": "DOUBLE", "b": "BOOLEAN", "d": "DATE",
             "ts": "VARCHAR", "day": "DATE"}  # fmt: skip
    relation = (
        f"read_csv('{source}', header = true, auto_detect = false, nullstr = 'NULL', allow_quoted_nulls = false, "
        f"columns = {types!r})"
    )
    rows = con.sql(
        f"SELECT rid, s, n, x, b, d, timezone('UTC', CAST(ts AS TIMESTAMPTZ)) AS ts FROM {relation} ORDER BY rid"
    ).fetchall()
    assert len(rows) == len(ROWS) and rows[1][1] == "" and rows[2][1] is None  # the oracle sees '' and NULL apart
    return rows


def _missing(value: Any) -> bool:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: Any, column: str) -> Any:
    """A client's cell as the Python value the oracle holds (None for every kind of missing)."""
    import pandas as pd

    if _missing(value):
        return None
    if column in ("rid", "n"):
        return int(value)
    if column == "x":
        return float(value)
    if column == "b":
        return bool(value)
    if column == "d":
        return value.date() if isinstance(value, datetime.datetime | pd.Timestamp) else value
    if column == "ts":
        if isinstance(value, str):  # awswrangler: a column pandas cannot hold in datetime64[ns] stays text
            return datetime.datetime.fromisoformat(value)
        return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value
    return value


def _rows_of(frame: Any) -> list[tuple[Any, ...]]:
    columns = list(frame.columns)
    return [tuple(_plain(v, c) for v, c in zip(row, columns, strict=True)) for row in frame.itertuples(index=False)]


def _encoded_text(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with the text column decoded (raw clients return the documented encoded form)."""
    return [(r[0], None if r[1] is None else decode_text(r[1]), *r[2:]) for r in rows]


def _text_as(rows: list[tuple[Any, ...]], *, empty: Any, null: Any) -> list[tuple[Any, ...]]:
    """The oracle's rows with '' and NULL text as a client that cannot tell them apart returns them."""
    return [(r[0], empty if r[1] == "" else null if r[1] is None else r[1], *r[2:]) for r in rows]


def _connect(stack: dict[str, str], **kwargs: Any) -> Any:
    from pyathena import connect

    return connect(
        s3_staging_dir=stack["AthenaResultLocation"],
        region_name="us-east-1",
        endpoint_url=stack["Endpoint"],
        work_group=stack["AthenaWorkGroup"],
        schema_name=stack["GlueDatabase"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        **kwargs,
    )


# ------------------------------------------------------------------ the clients


def test_query_df_returns_exactly_what_duckdb_reads_from_the_source(edge):
    import pipeline

    frame = pipeline.query_df(SQL, stage=STAGE)
    assert [str(t) for t in frame.dtypes] == ["Int64", "string", "Int64", "Float64", "boolean", "object",
                                              "datetime64[us]"]  # fmt: skip
    assert _rows_of(frame) == _oracle(edge["source"])
    assert frame["s"].tolist()[1:3] == ["", __import__("pandas").NA]
    raw = pipeline.query_arrow(SQL, stage=STAGE, decode=False).column("s").to_pylist()
    assert raw[3] == "tab\\there" and raw[6] == "back\\\\slash \\\\n typed \\\\N trailing\\\\"


def test_query_df_parameters_are_quoted_literals(edge):
    import pipeline

    frame = pipeline.query_df("SELECT rid FROM edge WHERE s = %(s)s OR s = %(q)s ORDER BY rid", stage=STAGE,
                              params={"s": "plain", "q": '"quoted", comma'})  # fmt: skip
    assert frame["rid"].tolist() == [1, 9]


def test_the_result_file_is_where_athena_reports_it(edge, aws_clients):
    cursor = _connect(edge["stack"]).cursor()
    cursor.execute(SQL)
    bucket, _, key = cursor.output_location.removeprefix("s3://").partition("/")
    assert key == f"_athena/{cursor.query_id}.csv"
    body = aws_clients["s3"].get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    lines = body.split("\n")
    assert lines[0] == '"rid","s","n","x","b","d","ts"'
    assert lines[2].startswith('"2",""') and lines[3].startswith('"3",,')  # '' quoted, NULL an empty field
    aws_clients["s3"].head_object(Bucket=bucket, Key=f"{key}.metadata")


def test_pyathena_default_cursor_reads_getqueryresults_as_before(edge):
    rows = _connect(edge["stack"]).cursor().execute(SQL).fetchall()  # GetQueryResults, kept as text by the server
    assert _encoded_text([tuple(_plain(v, c) for v, c in zip(r, HEADER, strict=False)) for r in rows]) == _oracle(
        edge["source"]
    )


def test_pyathena_pandas_cursor(edge):
    from pyathena.pandas.cursor import PandasCursor

    frame = _connect(edge["stack"], cursor_class=PandasCursor).cursor().execute(SQL).as_pandas()
    assert str(frame["n"].dtype) == "Int64" and str(frame["ts"].dtype) == "datetime64[us]"
    assert _encoded_text(_rows_of(frame)) == _text_as(_oracle(edge["source"]), empty=None, null=None)


@pytest.fixture
def arrow_endpoint(edge, monkeypatch):
    """pyathena builds ArrowCursor's S3 filesystem from region and credentials only, and pyarrow's S3FileSystem
    reads no endpoint variable: on the local cloud it must be told the endpoint (docs/pandas.md)."""
    from pyarrow import fs
    from pyathena.arrow.result_set import AthenaArrowResultSetMetadataReader

    endpoint = edge["stack"]["Endpoint"]
    monkeypatch.setattr(AthenaArrowResultSetMetadataReader, "_create_s3_file_system",
                        lambda self: fs.S3FileSystem(region="us-east-1", access_key="test", secret_key="test",
                                                     endpoint_override=endpoint))  # fmt: skip


def _arrow_rows(table: Any) -> list[tuple[Any, ...]]:
    names = table.column_names
    return [tuple(_plain(v, c) for v, c in zip(r.values(), names, strict=True)) for r in table.to_pylist()]


@pytest.mark.usefixtures("arrow_endpoint")
def test_pyathena_arrow_cursor(edge):
    import pyarrow as pa
    from pyathena.arrow.cursor import ArrowCursor

    table = _connect(edge["stack"], cursor_class=ArrowCursor).cursor().execute(SQL).as_arrow()
    assert table.schema.field("n").type == pa.int64() and table.schema.field("d").type == pa.date32()
    assert _encoded_text(_arrow_rows(table)) == _text_as(_oracle(edge["source"]), empty="", null="")


@pytest.mark.usefixtures("arrow_endpoint")
def test_pyathena_unload_reads_parquet_with_null_and_empty_apart(edge):
    from pyathena.arrow.cursor import ArrowCursor
    from pyathena.pandas.cursor import PandasCursor

    oracle = _oracle(edge["source"])
    table = _connect(edge["stack"], cursor_class=ArrowCursor).cursor(unload=True).execute(SQL).as_arrow()
    assert _encoded_text(_arrow_rows(table)) == oracle
    cursor = _connect(edge["stack"], cursor_class=PandasCursor).cursor(unload=True)
    frame = cursor.execute(SQL, dtype_backend="numpy_nullable").as_pandas()  # without it, Int64 with NULL is float
    assert str(frame["n"].dtype) == "Int64"
    assert _encoded_text(_rows_of(frame)) == oracle


def test_what_the_local_athena_does_not_unload_fails_in_one_line(edge):
    from pyathena.error import OperationalError

    stack = edge["stack"]
    sql = f"UNLOAD (SELECT rid FROM edge) TO 's3://{stack['ResultsBucket']}/_athena/orc/' WITH (format = 'ORC')"
    with pytest.raises(OperationalError, match=r"^NOT_SUPPORTED: .*format 'ORC' asked.*ctas_approach=False"):
        _connect(stack).cursor().execute(sql)


@pytest.fixture
def wrangler(edge):
    wr = pytest.importorskip("awswrangler", reason="awswrangler is in the `bench` extra: pip install -e '.[bench]'")
    return wr


def test_awswrangler_without_ctas(edge, wrangler):
    stack = edge["stack"]
    frame = wrangler.athena.read_sql_query(SQL, database=stack["GlueDatabase"], workgroup=stack["AthenaWorkGroup"],
                                           s3_output=stack["AthenaResultLocation"], ctas_approach=False)  # fmt: skip
    assert str(frame["n"].dtype) == "Int64" and str(frame["b"].dtype) == "boolean"
    assert _encoded_text(_rows_of(frame)) == _text_as(_oracle(edge["source"]), empty=None, null=None)


@pytest.mark.parametrize("approach", [{}, {"ctas_approach": False, "unload_approach": True}], ids=["ctas", "unload"])
def test_awswrangler_parquet_paths_keep_null_and_empty_apart(edge, wrangler, approach, aws_clients):
    stack = edge["stack"]
    frame = wrangler.athena.read_sql_query(SQL, database=stack["GlueDatabase"], workgroup=stack["AthenaWorkGroup"],
                                           s3_output=stack["AthenaResultLocation"], **approach)  # fmt: skip
    assert [str(t) for t in frame.dtypes] == ["Int64", "string", "Int64", "float64", "boolean", "object",
                                              "datetime64[us]"]  # fmt: skip
    assert _encoded_text(_rows_of(frame)) == _oracle(edge["source"])
    tables = aws_clients["glue"].get_tables(DatabaseName=stack["GlueDatabase"])["TableList"]
    assert not [t["Name"] for t in tables if t["Name"].startswith("temp_table_")]  # awswrangler dropped its CTAS table
