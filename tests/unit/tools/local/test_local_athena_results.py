"""The local Athena writes result files where and as Athena does (adapt/athena_results.py); query_df reads them."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid

import pytest
from conftest import run_async
from ministack.services import athena, s3

from pipeline.tools.local.adapt.athena_results import patch_athena, plain_rows, result_csv, save_query_results
from pipeline.tools.query.frames import decode_columns, read_result_csv, to_frame

COLUMNS = ["d", "s", "b", "n"]
ROWS = [
    [datetime.date(2024, 1, 31), "", True, 1],
    [None, None, None, None],
    [datetime.date(1, 1, 1), 'say "hi", then\nleave', False, -9223372036854775808],
]


def _execution(bucket: str, query_id: str) -> dict:
    rows = [list(r) for r in ROWS]
    return {
        "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/_athena/{query_id}.csv"},
        "Status": {"State": "SUCCEEDED", "StateChangeReason": ""},
        "_results": {"columns": list(COLUMNS), "rows": rows},
        "_column_types": ["date", "varchar", "boolean", "bigint"],
    }


@pytest.fixture
def bucket() -> str:
    name = f"results-{uuid.uuid4().hex[:12]}"
    assert s3._create_bucket(name, b"", {})[0] == 200
    return name


def _keys(bucket: str) -> list[str]:
    return sorted(s3._buckets[bucket]["objects"])


def test_ministack_alone_writes_the_file_one_level_deeper_with_null_and_empty_alike(bucket):
    original = getattr(athena._save_query_results, "__wrapped__", athena._save_query_results)
    athena._executions["q-alone"] = _execution(bucket, "q-alone")
    run_async(original("q-alone"))
    assert _keys(bucket) == ["_athena/q-alone.csv/q-alone.csv", "_athena/q-alone.csv/q-alone.csv.metadata"]
    body = s3._get_object_data(bucket, "_athena/q-alone.csv/q-alone.csv").decode()
    assert body.splitlines()[1:3] == ["2024-01-31,,True,1", ",,,"]  # '' and NULL both empty; Python's booleans
    with pytest.raises(TypeError, match="date is not JSON serializable"):  # why its state save failed
        json.dumps(athena._executions["q-alone"])


def test_the_result_file_is_at_the_output_location_in_athenas_csv(bucket):
    patch_athena()
    patch_athena()  # idempotent
    assert athena._save_query_results is save_query_results
    athena._executions["q-1"] = _execution(bucket, "q-1")
    run_async(athena._save_query_results("q-1"))
    assert _keys(bucket) == ["_athena/q-1.csv", "_athena/q-1.csv.metadata"]
    assert s3._get_object_data(bucket, "_athena/q-1.csv") == (
        b'"d","s","b","n"\n'
        b'"2024-01-31","","true","1"\n'
        b",,,\n"
        b'"0001-01-01","say ""hi"", then\nleave","false","-9223372036854775808"\n'
    )
    json.dumps(athena._executions["q-1"])  # the state saves
    assert athena._executions["q-1"]["_results"]["rows"][0][0] == "2024-01-31"  # as GetQueryResults shows it


def test_a_failed_write_fails_the_query_with_the_s3_error():
    patch_athena()
    athena._executions["q-2"] = _execution("no-such-bucket-here", "q-2")
    run_async(athena._save_query_results("q-2"))
    status = athena._executions["q-2"]["Status"]
    assert status["State"] == "FAILED"
    assert "NoSuchBucket" in status["StateChangeReason"]


def test_values_json_cannot_hold_become_their_text_and_others_stay():
    rows = plain_rows([[datetime.date(2024, 1, 1), decimal.Decimal("1.50"), b"\x01", [1, 2], 1, 1.5, True, None, "s"]])
    assert rows == [["2024-01-01", "1.50", "b'\\x01'", "[1, 2]", 1, 1.5, True, None, "s"]]


def test_query_df_reads_the_file_back_typed_with_null_and_empty_apart():
    import pandas as pd
    import pyarrow as pa

    body = result_csv(["n", "s", "s", "d", "ts", "b", "x"], [
        [1, "", "a\\tb", datetime.date(1, 1, 1), datetime.datetime(9999, 12, 31, 23, 59, 59, 999999), True, 0.5],
        [None, None, None, None, None, None, None],
        [2, 'q"\nz', "\\\\N", datetime.date(2024, 2, 29), datetime.datetime(2024, 1, 1), False, 1e125],
    ], athena._datum_text)  # fmt: skip
    columns = [("n", "bigint"), ("s", "varchar"), ("s", "varchar"), ("d", "date"), ("ts", "timestamp"),
               ("b", "boolean"), ("x", "double")]  # fmt: skip
    table = decode_columns(read_result_csv(pa.BufferReader(body), columns), columns, {"s"})
    assert table.column_names == ["n", "s", "s", "d", "ts", "b", "x"]
    frame = to_frame(table)
    assert [str(t) for t in frame.dtypes] == ["Int64", "string", "string", "object", "datetime64[us]", "boolean",
                                              "Float64"]  # fmt: skip
    assert frame.iloc[:, 1].tolist() == ["", pd.NA, 'q"\nz']
    assert frame.iloc[:, 2].tolist() == ["a\tb", pd.NA, "\\N"]
    assert frame["d"].tolist() == [datetime.date(1, 1, 1), None, datetime.date(2024, 2, 29)]
    assert frame["ts"].tolist()[0] == pd.Timestamp("9999-12-31 23:59:59.999999")
    assert frame["n"].tolist() == [1, pd.NA, 2]
    assert frame["x"].tolist() == [0.5, pd.NA, 1e125]


def test_a_single_column_null_row_is_a_row():
    import pyarrow as pa

    table = read_result_csv(pa.BufferReader(result_csv(["s"], [[None], [""], ["x"]])), [("s", "varchar")])
    assert table.column("s").to_pylist() == [None, "", "x"]
