"""Result objects of one page: partitioned TSV keys, row counts, and the rejects CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pyarrow as pa
from conftest import make_contract, serde_rows, validate_csv

from pipeline.runtime.rows.parse import Reject
from pipeline.runtime.sinks.layout import output_key, rejects_key
from pipeline.runtime.sinks.results import REJECT_COLUMNS, partition_files, rejects_file

ORDERS = (
    "ORD-00000001,1,2024-03-01T10:00:00Z,,NEW,1,EUR,1,,\n"
    "ORD-00000002,2,2024-03-02T10:00:00Z,,NEW,2,EUR,1,,\n"
    "ORD-00000003,3,2024-03-01T23:59:59.999Z,,NEW,3,EUR,1,,\n"
    "ORD-00000004,4,2024-03-02T00:30:00+01:00,,NEW,4,EUR,1,,\n"
    "ORD-00000005,5,2024-03-03T00:00:00Z,,NEW,5,EUR,1,,\n"
)


def test_partition_files_are_keyed_by_dataset_day_job_and_page(orders_contract):
    table = validate_csv(orders_contract, ORDERS).table
    files = partition_files(table, orders_contract, "abc123", 7)
    assert sorted(files) == [
        "orders/dt=2024-03-01/part-abc123-000007.tsv",
        "orders/dt=2024-03-02/part-abc123-000007.tsv",
        "orders/dt=2024-03-03/part-abc123-000007.tsv",
    ]
    for key in files:
        assert re.fullmatch(r"orders/dt=\d{4}-\d{2}-\d{2}/part-abc123-000007\.tsv", key)


def test_partition_row_counts_sum_to_table_rows(orders_contract):
    table = validate_csv(orders_contract, ORDERS).table
    files = partition_files(table, orders_contract, "j", 0)
    assert sum(count for _, count in files.values()) == table.num_rows == 5
    counts = {key.split("/")[1]: count for key, (_, count) in files.items()}
    # 2024-03-02T00:30+01:00 is 2024-03-01T23:30Z: partitions follow the UTC day
    assert counts == {"dt=2024-03-01": 3, "dt=2024-03-02": 1, "dt=2024-03-03": 1}


def test_each_partition_file_holds_only_its_days_rows(orders_contract):
    table = validate_csv(orders_contract, ORDERS).table
    for key, (body, count) in partition_files(table, orders_contract, "j", 0).items():
        day = key.split("/")[1].removeprefix("dt=")
        rows = serde_rows(body, orders_contract)
        assert len(rows) == count
        assert {r["order_ts"].date().isoformat() for r in rows} == {day}


def test_month_partitions_use_the_partition_name():
    contract = make_contract(
        {"d": {"type": "string", "format": "date"}},
        ["d"],
        dataset="my-data",
        **{"x-partition": {"column": "d", "granularity": "month", "name": "ym"}},
    )
    days = pa.array([date(2024, 1, 31), date(2024, 2, 1), date(2024, 1, 1)])
    table = pa.table({"id": ["a", "b", "c"], "d": days})
    files = partition_files(table, contract, "j", 0)
    assert files == {
        "my-data/ym=2024-01/part-j-000000.tsv": (b"a\t2024-01-31\nc\t2024-01-01\n", 2),
        "my-data/ym=2024-02/part-j-000000.tsv": (b"b\t2024-02-01\n", 1),
    }


def test_unpartitioned_dataset_writes_one_file_under_the_dataset():
    contract = make_contract({"n": {"type": "integer"}}, ["n"], dataset="plain")
    table = pa.table({"id": ["a", "b"], "n": pa.array([1, 2], pa.int64())})
    assert partition_files(table, contract, "j", 123456) == {
        "plain/part-j-123456.tsv": (b"a\t1\nb\t2\n", 2),
    }


def test_empty_table_writes_no_files(orders_contract):
    table = validate_csv(orders_contract, "").table
    assert partition_files(table, orders_contract, "j", 0) == {}


def test_same_page_gives_the_same_keys_and_bytes(orders_contract):
    table = validate_csv(orders_contract, ORDERS).table
    assert partition_files(table, orders_contract, "j", 3) == partition_files(table, orders_contract, "j", 3)


def test_layout_keys():
    assert output_key("orders", "dt", "2024-03-01", "j", 5) == "orders/dt=2024-03-01/part-j-000005.tsv"
    assert output_key("orders", None, None, "j", 5) == "orders/part-j-000005.tsv"
    assert rejects_key("orders", "j", 5) == "_rejects/orders/job=j/page-000005.csv"
    assert not rejects_key("orders", "j", 5).startswith("orders/")


def test_rejects_file_is_a_csv_with_line_reasons_and_original_record():
    rejects = [
        Reject(5, ["amount: below minimum 0", "currency: not one of EUR, USD, GBP"], 'a,"multi\nline, ""q"""'),
        Reject(9, ["expected 2 fields, found 3"], "1,2,3"),
    ]
    body = rejects_file(rejects)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert rows == [
        REJECT_COLUMNS,
        ["5", "amount: below minimum 0; currency: not one of EUR, USD, GBP", 'a,"multi\nline, ""q"""'],
        ["9", "expected 2 fields, found 3", "1,2,3"],
    ]


def test_rejects_file_of_no_rejects_is_just_the_header():
    assert rejects_file([]) == b"line,reasons,record\n"


def test_rejects_file_keeps_unicode_and_escaped_bytes(orders_contract):
    page = validate_csv(orders_contract, b"\xff\xfe,1\nORD-1,\xc3\xbc,x,,,,,,,\n")
    body = rejects_file(page.rejects)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert [r[0] for r in rows[1:]] == ["2", "3"]
    assert rows[1][2] == "\\xff\\xfe,1"
    assert "ü" in rows[2][2]


def test_write_page_names_its_output_keys_before_writing_any(orders_contract, monkeypatch):
    """A page killed between its S3 writes and its count still has its output on record, to be retired."""
    from pipeline.runtime.sinks import results

    events: list[tuple[str, object]] = []

    class S3:
        def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
            events.append(("put", Key))

    monkeypatch.setattr(results.aws, "client", lambda name: S3())
    table = validate_csv(orders_contract, ORDERS).table
    written = results.write_page("out", orders_contract, "j", 3, table, [], lambda keys: events.append(("named", keys)))
    assert events[0] == ("named", sorted(written["outputs"]))  # type: ignore[arg-type]
    assert sorted(k for what, k in events[1:] if what == "put") == sorted(written["outputs"])  # type: ignore[arg-type]
