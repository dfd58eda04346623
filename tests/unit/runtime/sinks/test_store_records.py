"""DynamoDB items of valid rows: keys, attribute types, duplicates within a page."""

from __future__ import annotations

from conftest import build_items, make_contract, validate_csv

from pipeline.runtime.sinks.dynamodb import record_key


def _items(contract, body, job_id="job-1"):
    page = validate_csv(contract, body)
    assert page.rejects == []
    return build_items(page.table, contract, job_id, page.lines.tolist())


def test_item_key_is_dataset_and_order_id(orders_contract):
    [item] = _items(orders_contract, "ORD-00000001,7,2024-03-01T10:00:00Z,,NEW,12.5,EUR,2,,\n")
    assert item["pk"] == {"S": "orders#ORD-00000001"}
    assert item["dataset"] == {"S": "orders"}
    assert item["job_id"] == {"S": "job-1"}
    assert item["line"] == {"N": "2"}


def test_item_attributes_are_typed_and_nulls_omitted(orders_contract):
    [item] = _items(orders_contract, "ORD-00000001,7,2024-03-01T10:00:00+01:00,,NEW,12.5,EUR,2,,\n")
    assert item["order_id"] == {"S": "ORD-00000001"}
    assert item["customer_id"] == {"N": "7"}
    assert item["amount"] == {"N": "12.5"}
    assert item["quantity"] == {"N": "2"}
    assert item["status"] == {"S": "NEW"}
    assert item["order_ts"]["S"].startswith("2024-03-01T09:00:00")
    assert item["order_ts"]["S"].endswith("Z")
    for omitted in ("ship_date", "is_gift", "note"):
        assert omitted not in item


def test_item_numbers_are_n_strings_that_parse_back(orders_contract):
    row = "ORD-00000001,249999,2024-03-01T10:00:00Z,2024-03-04,SHIPPED,0.1,EUR,10000,true,hi\n"
    [item] = _items(orders_contract, row)
    for name in ("customer_id", "amount", "quantity", "line"):
        assert set(item[name]) == {"N"}
        assert isinstance(item[name]["N"], str)
        float(item[name]["N"])
    assert item["amount"]["N"] == "0.1"
    assert item["is_gift"] == {"BOOL": True}
    assert item["ship_date"] == {"S": "2024-03-04"}
    assert item["note"] == {"S": "hi"}


def test_last_row_wins_for_a_duplicate_key_within_a_page(orders_contract):
    body = (
        "ORD-00000001,1,2024-03-01T10:00:00Z,,NEW,1,EUR,1,,first\n"
        "ORD-00000002,2,2024-03-01T10:00:00Z,,NEW,2,EUR,1,,other\n"
        "ORD-00000001,1,2024-03-01T10:00:00Z,2024-03-02,SHIPPED,1,EUR,1,,second\n"
    )
    items = _items(orders_contract, body)
    assert len(items) == 2
    by_key = {i["pk"]["S"]: i for i in items}
    assert by_key["orders#ORD-00000001"]["note"] == {"S": "second"}
    assert by_key["orders#ORD-00000001"]["status"] == {"S": "SHIPPED"}
    assert by_key["orders#ORD-00000001"]["line"] == {"N": "4"}
    assert len({i["pk"]["S"] for i in items}) == len(items)  # BatchWriteItem rejects duplicate keys


def test_no_items_for_an_empty_table(orders_contract):
    page = validate_csv(orders_contract, "")
    assert build_items(page.table, orders_contract, "j", []) == []


def test_text_with_special_characters_is_stored_verbatim(orders_contract):
    [item] = _items(orders_contract, 'ORD-00000001,1,2024-03-01T10:00:00Z,,NEW,1,EUR,1,,"a\tb\\c\nd ""e"""\n')
    assert item["note"] == {"S": 'a\tb\\c\nd "e"'}


def test_composite_key_joins_values_in_key_order():
    contract = make_contract(
        {"region": {"type": "string"}, "n": {"type": "integer"}},
        ["region", "n"],
        dataset="multi",
        **{"x-primary-key": ["region", "n"]},
    )
    [item] = _items(contract, "x,eu,5\n")
    assert item["pk"] == {"S": "multi#eu#5"}


def test_record_key():
    assert record_key("orders", ["ORD-00000001"]) == "orders#ORD-00000001"
    assert record_key("multi", ["eu", 5]) == "multi#eu#5"


def test_distinct_composite_keys_give_distinct_record_keys():
    assert record_key("multi", ["a#b", "c"]) != record_key("multi", ["a", "b#c"])
