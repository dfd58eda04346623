"""Dataset contracts: the shipped schema loads, and broken schemas fail with a message naming the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import SCHEMAS, make_contract, orders_document

from pipeline.runtime.contract import (
    ContractError,
    Partition,
    UnknownDatasetError,
    dataset_for_key,
    load_contract,
    load_contracts,
)
from pipeline.runtime.contract.loader import load_contract_file, parse_contract
from pipeline.runtime.errors import TerminalError, TransientError


def _doc(properties: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, **extra}


# ------------------------------------------------------------------ shipped schema


def test_orders_schema_loads_columns_in_file_order(orders_contract):
    assert orders_contract.dataset == "orders"
    assert orders_contract.column_names == [
        "order_id",
        "customer_id",
        "order_ts",
        "ship_date",
        "status",
        "amount",
        "currency",
        "quantity",
        "is_gift",
        "note",
    ]


def test_orders_schema_maps_json_types_to_column_kinds(orders_contract):
    kinds = {c.name: c.kind for c in orders_contract.columns}
    assert kinds == {
        "order_id": "string",
        "customer_id": "integer",
        "order_ts": "timestamp",
        "ship_date": "date",
        "status": "string",
        "amount": "number",
        "currency": "string",
        "quantity": "integer",
        "is_gift": "boolean",
        "note": "string",
    }
    glue = {c.name: c.glue_type for c in orders_contract.columns}
    assert glue["customer_id"] == "bigint"
    assert glue["amount"] == "double"
    assert glue["order_ts"] == "timestamp"
    assert glue["ship_date"] == "date"


def test_orders_schema_marks_required_and_nullable_columns(orders_contract):
    required = {c.name for c in orders_contract.columns if c.required}
    assert required == {"order_id", "customer_id", "order_ts", "status", "amount", "currency", "quantity"}
    nullable = {c.name for c in orders_contract.columns if c.nullable}
    assert nullable == {"ship_date", "is_gift", "note"}


def test_orders_schema_keeps_value_rules(orders_contract):
    assert orders_contract.column("order_id").pattern == "^ORD-[0-9]{8}$"
    statuses = ("NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED")
    assert orders_contract.column("status").enum == statuses
    assert orders_contract.column("amount").minimum == 0
    assert orders_contract.column("amount").maximum == 1000000
    assert orders_contract.column("quantity").maximum == 10000
    assert orders_contract.column("note").max_length == 2000


def test_orders_schema_primary_key_partition_and_null_values(orders_contract):
    assert orders_contract.primary_key == ("order_id",)
    assert orders_contract.partition == Partition(column="order_ts", granularity="day", name="dt")
    assert orders_contract.null_values == ("", "NA", "NULL")
    assert orders_contract.store_in_dynamodb is True
    assert orders_contract.table_name == "orders"


def test_load_contracts_finds_every_schema_in_a_folder():
    contracts = load_contracts(SCHEMAS)
    assert "orders" in contracts
    assert contracts["orders"].column_names[0] == "order_id"


def test_load_contracts_of_an_empty_folder_is_empty(tmp_path):
    assert load_contracts(tmp_path) == {}


def test_load_contract_reads_the_configured_schemas_folder(tmp_path, monkeypatch):
    document = _doc({"id": {"type": "string"}}, ["id"], **{"x-primary-key": ["id"]})
    (tmp_path / "widgets.schema.json").write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setenv("PIPELINE_SCHEMAS_DIR", str(tmp_path))
    load_contract.cache_clear()
    try:
        assert load_contract("widgets").column_names == ["id"]
        with pytest.raises(UnknownDatasetError, match="known datasets: widgets"):
            load_contract("orders")
    finally:
        load_contract.cache_clear()


def test_load_contract_rejects_a_dataset_name_that_is_a_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_SCHEMAS_DIR", str(tmp_path))
    load_contract.cache_clear()
    try:
        with pytest.raises(UnknownDatasetError):
            load_contract("../orders")
    finally:
        load_contract.cache_clear()


def test_schema_file_that_is_not_json_raises_contract_error(tmp_path):
    path = tmp_path / "broken.schema.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ContractError, match=r"broken\.schema\.json: not valid JSON"):
        load_contract_file(path)


def test_schema_file_with_wrong_suffix_raises_contract_error(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ContractError, match="schema files are named"):
        load_contract_file(path)


def test_contract_errors_are_terminal():
    assert issubclass(ContractError, TerminalError)
    assert not issubclass(ContractError, TransientError)


# ------------------------------------------------------------------ broken schemas


def test_unknown_column_type_is_named_in_the_error():
    doc = _doc({"id": {"type": "string"}, "blob": {"type": "array"}}, ["id"], **{"x-primary-key": ["id"]})
    with pytest.raises(ContractError, match=r"column 'blob': type must be one of .*got 'array'"):
        parse_contract("things", doc)


def test_column_without_type_is_named_in_the_error():
    doc = _doc({"id": {"type": "string"}, "x": {}}, ["id"], **{"x-primary-key": ["id"]})
    with pytest.raises(ContractError, match="column 'x': 'type' is missing"):
        parse_contract("things", doc)


def test_union_of_two_real_types_is_rejected():
    doc = _doc({"id": {"type": "string"}, "x": {"type": ["string", "integer"]}}, ["id"], **{"x-primary-key": ["id"]})
    with pytest.raises(ContractError, match="column 'x'"):
        parse_contract("things", doc)


def test_format_on_a_non_string_column_is_rejected():
    doc = _doc(
        {"id": {"type": "string"}, "x": {"type": "integer", "format": "date"}}, ["id"], **{"x-primary-key": ["id"]}
    )
    with pytest.raises(ContractError, match="column 'x': only string columns take format"):
        parse_contract("things", doc)


def test_primary_key_that_is_not_a_column_is_named_in_the_error():
    doc = _doc({"id": {"type": "string"}}, ["id"], **{"x-primary-key": ["order_no"]})
    with pytest.raises(ContractError, match=r"'x-primary-key' names unknown columns \['order_no'\]"):
        parse_contract("things", doc)


def test_missing_primary_key_is_rejected():
    with pytest.raises(ContractError, match="'x-primary-key' must list at least one column"):
        parse_contract("things", _doc({"id": {"type": "string"}}, ["id"]))


def test_primary_key_column_must_be_required():
    doc = _doc({"id": {"type": "string"}, "x": {"type": "string"}}, ["x"], **{"x-primary-key": ["id"]})
    with pytest.raises(ContractError, match="primary-key column 'id' must be in 'required'"):
        parse_contract("things", doc)


def test_required_naming_an_unknown_column_is_rejected():
    doc = _doc({"id": {"type": "string"}}, ["id", "ghost"], **{"x-primary-key": ["id"]})
    with pytest.raises(ContractError, match=r"'required' names unknown columns \['ghost'\]"):
        parse_contract("things", doc)


def test_partition_on_a_non_date_column_is_named_in_the_error():
    doc = orders_document()
    doc["x-partition"] = {"column": "customer_id"}
    with pytest.raises(ContractError, match="column 'customer_id' must have format date or date-time"):
        parse_contract("orders", doc)


def test_partition_on_an_unknown_column_is_rejected():
    doc = orders_document()
    doc["x-partition"] = {"column": "created"}
    with pytest.raises(ContractError, match=r"'x-partition\.column' 'created' is not a column"):
        parse_contract("orders", doc)


def test_partition_on_an_optional_column_is_rejected():
    doc = orders_document()
    doc["x-partition"] = {"column": "ship_date"}
    with pytest.raises(ContractError, match="partition column 'ship_date' must be in 'required'"):
        parse_contract("orders", doc)


def test_partition_granularity_must_be_day_or_month():
    doc = orders_document()
    doc["x-partition"] = {"column": "order_ts", "granularity": "hour"}
    with pytest.raises(ContractError, match="granularity"):
        parse_contract("orders", doc)


def test_partition_name_clashing_with_a_column_is_rejected():
    doc = orders_document()
    doc["x-partition"] = {"column": "order_ts", "name": "status"}
    with pytest.raises(ContractError, match="partition name 'status' clashes with a column"):
        parse_contract("orders", doc)


def test_month_partition_with_custom_name_is_kept():
    doc = orders_document()
    doc["x-partition"] = {"column": "order_ts", "granularity": "month", "name": "ym"}
    assert parse_contract("orders", doc).partition == Partition("order_ts", "month", "ym")


def test_invalid_regex_pattern_is_named_in_the_error():
    doc = orders_document()
    doc["properties"]["order_id"]["pattern"] = "^ORD-[0-9{8}$"
    with pytest.raises(ContractError, match=r"column 'order_id': pattern .* is not a valid regex"):
        parse_contract("orders", doc)


@pytest.mark.parametrize("name", ["Orders", "1orders", "orders.v2", "", "a" * 64, "orders/x", "../orders"])
def test_bad_dataset_name_is_rejected(name):
    with pytest.raises(ContractError, match="dataset name"):
        parse_contract(name, orders_document())


@pytest.mark.parametrize("name", ["o", "orders", "order-lines", "order_lines_2", "a" * 63])
def test_good_dataset_names_are_accepted(name):
    assert parse_contract(name, orders_document()).dataset == name


def test_schema_that_is_not_an_object_is_rejected():
    with pytest.raises(ContractError, match="'type': 'object'"):
        parse_contract("things", {"type": "array"})


def test_schema_without_properties_is_rejected():
    with pytest.raises(ContractError, match="'properties' must list at least one column"):
        parse_contract("things", {"type": "object", "properties": {}})


# ------------------------------------------------------------------ options


def test_x_dynamodb_false_turns_off_the_records_table():
    doc = orders_document()
    doc["x-dynamodb"] = False
    assert parse_contract("orders", doc).store_in_dynamodb is False


def test_x_null_values_replace_the_defaults():
    contract = make_contract({}, **{"x-null-values": ["-", "n/a"]})
    assert contract.null_values == ("-", "n/a")


def test_hyphenated_dataset_has_an_underscore_table_name():
    assert make_contract({}, dataset="order-lines").table_name == "order_lines"


def test_enum_drops_a_null_member():
    contract = make_contract({"s": {"type": ["string", "null"], "enum": ["A", "B", None]}})
    assert contract.column("s").enum == ("A", "B")
    assert contract.column("s").nullable


# ------------------------------------------------------------------ keys -> datasets


@pytest.mark.parametrize(
    ("key", "dataset"),
    [("orders/2024/03/file.csv", "orders"), ("orders/file.csv", "orders"), ("order-lines/x", "order-lines")],
)
def test_dataset_is_the_first_key_segment(key, dataset):
    assert dataset_for_key(key) == dataset


@pytest.mark.parametrize("key", ["file.csv", "/file.csv", ""])
def test_key_without_dataset_prefix_is_unknown(key):
    with pytest.raises(UnknownDatasetError, match="has no '<dataset>/' prefix"):
        dataset_for_key(key)
