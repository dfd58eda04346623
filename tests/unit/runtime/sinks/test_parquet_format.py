"""The Parquet output format: one typed file per partition per page, Hive layout, and the merge of page files."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_contract, orders_document, validate_csv

from pipeline.runtime.contract import ContractError
from pipeline.runtime.contract.loader import parse_contract
from pipeline.runtime.sinks import parquet_format, results
from pipeline.runtime.sinks.results import partition_files

ORDERS = (
    "ORD-00000001,1,2024-03-01T10:00:00.123456Z,,NEW,1.5,EUR,1,true,\n"
    "ORD-00000002,2,2024-03-02T10:00:00Z,2024-03-05,NEW,-0.0,EUR,1,,line one\\nstill one\n"
    'ORD-00000003,9223372036854775807,2024-03-01T23:59:59Z,,NEW,3,EUR,1,false,"tab\there, 😀 and\nnewline"\n'
    "ORD-00000004,4,2024-03-02T00:30:00+01:00,,NEW,4,EUR,1,,\n"
)


@pytest.fixture
def parquet_orders():
    return parse_contract("orders", {**orders_document(), "x-format": "parquet"})


def _read(body: bytes) -> pa.Table:
    return pq.read_table(pa.BufferReader(body), coerce_int96_timestamp_unit="us")


def test_x_format_defaults_to_text_and_accepts_parquet(orders_contract, parquet_orders):
    assert orders_contract.output_format == "text" and parquet_orders.output_format == "parquet"
    assert parse_contract("orders", {**orders_document(), "x-format": "text"}).output_format == "text"


@pytest.mark.parametrize("value", ["csv", "PARQUET", ""])
def test_x_format_refuses_other_formats(value):
    with pytest.raises(ContractError, match=r"'x-format' must be 'text' .* or 'parquet', got"):
        parse_contract("orders", {**orders_document(), "x-format": value})


def test_x_format_must_be_a_string():
    with pytest.raises(ContractError, match=r"\$\.x-format: 'x-format' must be a string, got a boolean"):
        parse_contract("orders", {**orders_document(), "x-format": True})


def test_a_page_writes_one_parquet_file_per_partition_named_like_the_text_files(parquet_orders):
    table = validate_csv(parquet_orders, ORDERS).table
    files = partition_files(table, parquet_orders, "abc123", 7)
    assert sorted(files) == [
        "orders/dt=2024-03-01/part-abc123-000007.parquet",
        "orders/dt=2024-03-02/part-abc123-000007.parquet",
    ]
    assert {k.split("/")[1]: n for k, (_, n) in files.items()} == {"dt=2024-03-01": 3, "dt=2024-03-02": 1}


def test_the_file_holds_the_contract_columns_typed_and_no_partition_column(parquet_orders):
    table = validate_csv(parquet_orders, ORDERS).table
    body, _ = partition_files(table, parquet_orders, "j", 0)["orders/dt=2024-03-01/part-j-000000.parquet"]
    metadata = pq.ParquetFile(pa.BufferReader(body)).metadata
    assert metadata.row_group(0).column(0).compression == "SNAPPY"
    got = _read(body)
    assert got.column_names == parquet_orders.column_names  # no `dt`: Hive layout, the folder names it
    assert [str(t) for t in got.schema.types] == [
        "string", "int64", "timestamp[us]", "date32[day]", "string", "double", "string", "int64", "bool", "string",
    ]  # fmt: skip
    rows = {r["order_id"]: r for r in got.to_pylist()}
    assert rows["ORD-00000001"]["order_ts"] == datetime(2024, 3, 1, 10, 0, 0, 123456)
    assert rows["ORD-00000001"]["note"] is None and rows["ORD-00000001"]["is_gift"] is True
    assert rows["ORD-00000003"]["customer_id"] == 2**63 - 1
    assert rows["ORD-00000003"]["note"] == "tab\there, 😀 and\nnewline"  # exact: no encoding in Parquet
    assert rows["ORD-00000004"]["order_ts"] == datetime(2024, 3, 1, 23, 30)  # the UTC wall time


def test_timestamps_are_int96_and_text_is_utf8(parquet_orders):
    table = validate_csv(parquet_orders, ORDERS).table
    body, _ = partition_files(table, parquet_orders, "j", 0)["orders/dt=2024-03-02/part-j-000000.parquet"]
    schema = pq.ParquetFile(pa.BufferReader(body)).schema
    assert schema.column(2).physical_type == "INT96"
    assert schema.column(0).logical_type.type == "STRING"
    row = _read(body).to_pylist()[0]
    assert row["ship_date"] == date(2024, 3, 5) and row["note"] == "line one\\nstill one"
    assert repr(row["amount"]) == "-0.0"


def test_empty_strings_stay_empty_and_nulls_null():
    contract = make_contract({"s": {"type": ["string", "null"]}}, **{"x-null-values": ["NULL"], "x-format": "parquet"})
    table = validate_csv(contract, 'a,""\nb,NULL\nc," "\n').table
    ((key, (body, rows)),) = partition_files(table, contract, "j", 1).items()
    assert key == "things/part-j-000001.parquet" and rows == 3
    assert _read(body).to_pylist() == [{"id": "a", "s": ""}, {"id": "b", "s": None}, {"id": "c", "s": " "}]


def test_timestamps_and_dates_hold_years_1_to_9999():
    contract = make_contract(
        {"d": {"type": "string", "format": "date"}, "t": {"type": "string", "format": "date-time"}},
        **{"x-format": "parquet"},
    )
    body_csv = "a,0001-01-01,0001-01-01T00:00:00Z\nb,9999-12-31,9999-12-31T23:59:59.999999Z\n"
    table = validate_csv(contract, body_csv).table
    ((_, (body, _)),) = partition_files(table, contract, "j", 1).items()
    assert parquet_format.read(body).to_pylist() == [
        {"id": "a", "d": date(1, 1, 1), "t": datetime(1, 1, 1)},
        {"id": "b", "d": date(9999, 12, 31), "t": datetime(9999, 12, 31, 23, 59, 59, 999999)},
    ]


def test_a_timezone_aware_column_is_written_as_its_utc_wall_time():
    contract = make_contract({"t": {"type": "string", "format": "date-time"}}, **{"x-format": "parquet"})
    table = pa.table({"id": ["a"], "t": pa.array([datetime(2024, 1, 1, 5, tzinfo=UTC)], pa.timestamp("us", "UTC"))})
    assert parquet_format.read(parquet_format.file_bytes(table, contract)).column("t").to_pylist() == [
        datetime(2024, 1, 1, 5)
    ]


def test_parquet_pages_write_a_key_index_for_compaction(parquet_orders, monkeypatch):
    """Compaction resolves keys across pages from each page's key index (ADR 10), whatever the format."""
    puts: list[str] = []

    class S3:
        def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
            puts.append(Key)

    monkeypatch.setattr(results.aws, "client", lambda name: S3())
    page = validate_csv(parquet_orders, ORDERS)
    written = results.write_page("out", parquet_orders, "j", 3, page.table, [], None, page.lines)
    assert written["key_index_key"] in puts
    outputs = written["outputs"]
    assert sorted(puts) == sorted([*outputs, written["key_index_key"]])  # type: ignore[list-item]
    assert all(k.endswith(".parquet") for k in outputs)  # type: ignore[union-attr]


def test_a_bounded_merge_ends_a_file_before_the_input_that_would_cross_the_limit():
    contract = make_contract(INTS, **{"x-format": "parquet"})
    files = _files(contract, [300, 300, 300, 300])
    limit = len(files[0]) * 2 + 10  # two inputs' worth
    keep = [None, np.array([i % 2 == 0 for i in range(300)]), None, None]
    merged = list(parquet_format.merge_bounded(zip(files, keep, strict=True), limit))
    assert [rows for _, rows in merged] == [450, 600]
    values = [v for body, _ in merged for v in parquet_format.read(body).column("v").to_pylist()]
    assert values == [*range(300), *range(300, 600, 2), *range(600, 1200)]  # order kept, superseded rows gone
    assert all(parquet_format.row_count(body) == rows for body, rows in merged)
    assert [rows for _, rows in parquet_format.merge_bounded(zip(files, keep, strict=True), float("inf"))] == [1050]


def _files(contract, rows_per_file: list[int]) -> list[bytes]:
    out, n = [], 0
    for count in rows_per_file:
        table = pa.table({"id": [f"k{n + i}" for i in range(count)], "v": pa.array(range(n, n + count), pa.int64())})
        out.append(parquet_format.file_bytes(table, contract))
        n += count
    return out


INTS = {"v": {"type": ["integer", "null"]}}


def _merge(files: list[bytes], keep: list[np.ndarray | None] | None = None) -> bytes:
    """The page files merged into one file (no size bound), as compaction merges a partition's."""
    masks = keep if keep is not None else [None] * len(files)
    merged = list(parquet_format.merge_bounded(zip(files, masks, strict=True), float("inf")))
    return merged[0][0] if merged else b""


def test_merge_keeps_every_row_in_file_order():
    contract = make_contract(INTS, **{"x-format": "parquet"})
    merged = _merge(_files(contract, [3, 2, 4]))
    table = parquet_format.read(merged)
    assert table.column("v").to_pylist() == list(range(9))
    assert table.schema == parquet_format.arrow_schema(contract)
    assert parquet_format.row_count(merged) == 9
    assert pq.ParquetFile(pa.BufferReader(merged)).metadata.num_row_groups == 3  # one input file at a time


def test_merge_drops_the_rows_a_mask_leaves_out():
    contract = make_contract(INTS, **{"x-format": "parquet"})
    keep = [np.array([True, False, True]), None, np.array([False, False])]
    merged = _merge(_files(contract, [3, 1, 2]), keep)
    assert parquet_format.read(merged).column("id").to_pylist() == ["k0", "k2", "k3"]


def test_merge_of_nothing_is_empty_and_a_wrong_mask_or_schema_fails():
    contract = make_contract(INTS, **{"x-format": "parquet"})
    assert _merge([]) == b""
    assert _merge(_files(contract, [2]), [np.array([False, False])]) == b""
    with pytest.raises(ValueError, match="a mask of 1 rows for a file of 2"):
        _merge(_files(contract, [2]), [np.array([True])])
    other = make_contract({"w": {"type": ["string", "null"]}}, **{"x-format": "parquet"})
    mixed = [*_files(contract, [1]), parquet_format.file_bytes(pa.table({"id": ["x"], "w": ["y"]}), other)]
    with pytest.raises(ValueError, match="different schemas"):
        _merge(mixed)


def test_the_page_code_never_imports_pyarrow_parquet_for_a_text_dataset():
    """The Lambdas of text datasets keep their cold start: the text path does not load pyarrow.parquet."""
    import subprocess
    import sys

    code = (
        "import sys; import handlers.upload, handlers.page_worker, handlers.job_steps; "
        "print('pyarrow.parquet' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_reconcile_reads_the_record_keys_of_a_parquet_output_as_the_pages_stored_them(parquet_orders):
    """`pipeline reconcile` counts a Parquet object's rows and keys; they must be the DynamoDB items' keys."""
    from pipeline.runtime.sinks.dynamodb import key_texts
    from pipeline.tools.operate.reconcile import parquet_keys

    contract = parse_contract(
        "events",
        {
            **orders_document(),
            "x-format": "parquet",
            "x-primary-key": ["order_id", "order_ts"],
        },
    )
    table = validate_csv(contract, ORDERS).table
    files = partition_files(table, contract, "j", 0)
    found = sorted(k for body, _ in files.values() for k in parquet_keys(body, contract))
    assert found == sorted(key_texts(table, contract).to_pylist())
    assert "events#ORD-00000004#2024-03-01T23:30:00.000000Z" in found
