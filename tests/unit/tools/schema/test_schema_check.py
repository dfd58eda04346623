"""`pipeline schema check`: a local file through the page code, page by page, as the pipeline would cut it."""

from __future__ import annotations

import json

import pyarrow.compute as pc
from click.testing import CliRunner
from conftest import SCHEMAS, orders_document, validate_csv

from pipeline.runtime.contract.loader import load_contract_file
from pipeline.runtime.rows.records import split_header
from pipeline.runtime.sinks.text_format import partition_values
from pipeline.tools.cli.main import cli
from pipeline.tools.sample import write_orders
from pipeline.tools.schema.check import Paging, check_file, rule_of

ORDERS = load_contract_file(SCHEMAS / "orders.schema.json")


def _run(*args: str):
    return CliRunner().invoke(cli, ["schema", "check", *args])


def test_rejects_lines_and_partitions_equal_the_page_code_on_the_whole_file(tmp_path):
    path = tmp_path / "orders.csv"
    write_orders(path, 4_000, seed=9, start_id=1)
    report = check_file(path, ORDERS, Paging(1 << 40, 50_000), keep_lines=True)
    body = path.read_bytes()
    _, start = split_header(body)
    page = validate_csv(ORDERS, body[start:])
    # validate_csv stops before the store rules; the duplicates they add are the only difference
    store_only = {k: v for k, v in report.reject_lines.items() if all("duplicate primary key" in r for r in v)}
    assert {r.line: r.reasons for r in page.rejects} == {
        k: [r for r in v if "duplicate primary key" not in r]
        for k, v in report.reject_lines.items()
        if k not in store_only
    }
    assert report.rows_input == 4_000 and report.rows_valid + report.rows_rejected == 4_000
    values = partition_values(page.table, ORDERS)
    expected = {d["values"]: d["counts"] for d in pc.value_counts(values).to_pylist()}
    assert sum(expected.values()) - len(store_only) == report.rows_valid == sum(report.partitions.values())
    assert report.dynamodb_items == report.rows_valid == report.dynamodb_distinct_keys
    assert report.dynamodb_key_examples[0].startswith("orders#ORD-")


def test_paging_follows_the_stage_settings_and_duplicates_count_per_page(tmp_path):
    path = tmp_path / "dupes.csv"
    rows = [f"ORD-{i % 500:08d},1,2024-03-01T10:00:00Z,,NEW,1.5,EUR,1,," for i in range(1_000)]
    path.write_text(",".join(ORDERS.column_names) + "\n" + "\n".join(rows) + "\n")
    inline = check_file(path, ORDERS, Paging(1 << 40, 300))
    paged = check_file(path, ORDERS, Paging(0, 300))
    assert (inline.mode, inline.pages, inline.rows_rejected) == ("inline", 1, 500)
    assert (paged.mode, paged.pages) == ("paged", 4)
    assert paged.rows_rejected == 0  # pages of 300 rows never hold a key twice: both copies of each key are stored
    assert paged.dynamodb_items == 1_000 and paged.dynamodb_distinct_keys == 500  # the later put overwrites
    assert list(inline.rejects) == ["order_id: duplicate primary key"]


def test_rules_group_reasons_without_their_values():
    assert rule_of("order_id: duplicate primary key ORD-1, superseded by line 9") == "order_id: duplicate primary key"
    assert rule_of("not valid UTF-8 (byte 3 of the record)") == "not valid UTF-8"
    assert rule_of("row too large for DynamoDB: about 500,000 bytes, the item limit is 409,600").startswith("row too")
    assert rule_of("status: not one of NEW, PAID") == "status: not one of NEW, PAID"


def test_exit_status_and_json(tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(",".join(ORDERS.column_names) + "\nORD-00000001,1,2024-03-01T10:00:00Z,,NEW,1.5,EUR,1,,\n")
    ok = _run(str(good), "--dataset", "orders", "--json")
    assert ok.exit_code == 0 and json.loads(ok.stdout)["partitions"] == {"2024-03-01": 1}
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(ORDERS.column_names) + "\nORD-1,x,2024-03-01T10:00:00Z,,OLD,1.5,EUR,1,,\n")
    rejected = _run(str(bad), "--dataset", "orders", "--json", "--lines")
    report = json.loads(rejected.stdout)
    assert rejected.exit_code == 2 and report["rows_rejected"] == 1
    assert report["reject_lines"]["2"] == [
        "order_id: does not match ^ORD-[0-9]{8}$", "customer_id: not an integer", "status: not one of NEW, PAID, "
        "SHIPPED, DELIVERED, CANCELLED, RETURNED"
    ]  # fmt: skip
    header_only = tmp_path / "empty.csv"
    header_only.write_text(",".join(ORDERS.column_names) + "\n")
    failed = _run(str(header_only), "--dataset", "orders")
    assert failed.exit_code == 1 and "the file has a header but no rows" in failed.output


def test_unknown_dataset_and_broken_contract_are_one_line_errors(tmp_path):
    good = tmp_path / "f.csv"
    good.write_text("a\n1\n")
    unknown = _run(str(good), "--dataset", "customers")
    assert unknown.exit_code == 1 and "no schema for dataset 'customers'; known datasets: orders" in unknown.output
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    broken = orders_document()
    broken["x-partiton"] = broken.pop("x-partition")
    (schemas / "orders.schema.json").write_text(json.dumps(broken))
    result = _run(str(good), "--dataset", "orders", "--schemas", str(schemas))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "$.x-partiton: unknown keyword 'x-partiton'; did you mean x-partition?" in " ".join(result.output.split())
    (schemas / "orders.schema.json").write_text("{not json")
    result = _run(str(good), "--dataset", "orders", "--schemas", str(schemas))
    assert result.exit_code == 1 and "orders.schema.json: not valid JSON" in result.output


def test_a_missing_file_is_a_usage_error_not_a_traceback(tmp_path):
    result = _run(str(tmp_path / "nope.csv"), "--dataset", "orders")
    assert result.exit_code == 2 and "does not exist" in result.output
