"""Whole-file problems fail with short, readable causes; contracts say what happens to extra columns."""

from __future__ import annotations

import gzip

import pytest
from conftest import make_contract, orders_document, validate_csv

from pipeline.runtime.arrival.upload import is_gzip
from pipeline.runtime.contract import ContractError
from pipeline.runtime.contract.loader import parse_contract
from pipeline.runtime.rows.header import HeaderError, check_header, listed, parse_header


def test_long_name_lists_are_cut_short_with_a_count():
    names = [f"c{i}" for i in range(490)]
    assert listed(names) == "c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 and 480 more (490 in all)"
    assert listed(["a", ""]) == "a, (empty name)"


def test_five_hundred_columns_fail_with_a_short_message(orders_contract):
    names = [*orders_contract.column_names, *(f"extra_{i:03d}" for i in range(490))]
    with pytest.raises(HeaderError) as error:
        check_header(names, orders_contract)
    message = str(error.value)
    assert "unknown columns: extra_000, extra_001" in message and "and 480 more (490 in all)" in message
    assert len(message) < 500


def test_a_trailing_comma_in_the_header_names_the_empty_column(orders_contract):
    with pytest.raises(HeaderError, match=r"unknown columns: \(empty name\)"):
        check_header([*orders_contract.column_names, ""], orders_contract)


@pytest.mark.parametrize(
    ("head", "text"),
    [
        (gzip.compress(b"a,b\n"), "gzip data: give the object key a .gz suffix"),
        ("order_id,amount".encode("utf-16"), "UTF-16 text"),
        (b"PK\x03\x04\x14\x00", "a zip archive"),
    ],
)
def test_binary_files_are_named_for_what_they_are(head, text):
    with pytest.raises(HeaderError, match=f"the file is not CSV text, it looks like {text}"):
        parse_header(head)


def test_gzip_is_recognised_by_suffix_in_any_case():
    assert is_gzip("orders/a.csv.gz") and is_gzip("orders/A.CSV.GZ")
    assert not is_gzip("orders/a.csv") and not is_gzip("orders/gz")


def test_orders_contract_refuses_extra_columns(orders_contract):
    assert orders_contract.extra_columns_allowed is False
    with pytest.raises(HeaderError, match="unknown columns: coupon"):
        check_header([*orders_contract.column_names, "coupon"], orders_contract)


def test_additional_properties_true_reads_and_drops_extra_columns():
    contract = make_contract({"n": {"type": "integer"}}, ["n"], additionalProperties=True)
    names = check_header(["n", "comment", "id"], contract)
    page = validate_csv(contract, "1,anything,a\n", header=names)
    assert page.table.to_pylist() == [{"id": "a", "n": 1}]


def test_additional_properties_absent_means_strict():
    document = orders_document()
    del document["additionalProperties"]
    with pytest.raises(HeaderError, match="unknown columns: coupon"):
        check_header([*document["properties"], "coupon"], parse_contract("orders", document))


def test_additional_properties_must_be_a_boolean():
    with pytest.raises(ContractError, match="'additionalProperties' must be false"):
        make_contract({}, additionalProperties={"type": "string"})


def test_a_megabyte_of_digits_is_out_of_range_not_a_crash():
    contract = make_contract({"n": {"type": "integer"}}, ["n"])
    page = validate_csv(contract, f"a,{'9' * 1_000_000}\nb,{'0' * 5_000}42\nc,-{'0' * 5_000}9223372036854775808\n")
    assert {r.line: r.reasons for r in page.rejects} == {2: ["n: integer out of 64-bit range"]}
    assert page.table.column("n").to_pylist() == [42, -(2**63)]
