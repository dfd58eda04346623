"""Header parsing and checking against the orders contract."""

from __future__ import annotations

import pytest

from pipeline.runtime.errors import TerminalError
from pipeline.runtime.rows.header import HeaderError, check_header, parse_header

ORDERS_HEADER = b"order_id,customer_id,order_ts,ship_date,status,amount,currency,quantity,is_gift,note"


def test_header_names_are_parsed_in_file_order():
    assert parse_header(b"order_id,customer_id,amount") == ["order_id", "customer_id", "amount"]


def test_utf8_bom_is_stripped_from_the_first_name():
    assert parse_header(b"\xef\xbb\xbforder_id,amount") == ["order_id", "amount"]


def test_surrounding_spaces_are_trimmed():
    assert parse_header(b" order_id , amount ") == ["order_id", "amount"]


def test_quoted_header_names_are_unquoted():
    assert parse_header(b'"order_id","amount"') == ["order_id", "amount"]


def test_empty_header_parses_to_no_names():
    assert parse_header(b"") == []


def test_header_that_is_not_utf8_raises_header_error():
    with pytest.raises(HeaderError, match=r"not valid UTF-8 \(byte 6\)"):
        parse_header(b"order_\xff,amount")


def test_header_errors_are_terminal():
    assert issubclass(HeaderError, TerminalError)


def test_full_header_passes(orders_contract):
    names = parse_header(ORDERS_HEADER)
    assert check_header(names, orders_contract) == names


def test_full_header_with_bom_passes(orders_contract):
    names = parse_header(b"\xef\xbb\xbf" + ORDERS_HEADER)
    assert check_header(names, orders_contract)[0] == "order_id"


def test_reordered_columns_are_accepted(orders_contract):
    names = list(reversed(orders_contract.column_names))
    assert check_header(names, orders_contract) == names


def test_optional_columns_may_be_left_out(orders_contract):
    names = ["order_id", "customer_id", "order_ts", "status", "amount", "currency", "quantity"]
    assert check_header(names, orders_contract) == names


def test_missing_required_columns_are_listed(orders_contract):
    names = ["order_id", "customer_id", "order_ts", "status", "amount"]
    with pytest.raises(HeaderError) as error:
        check_header(names, orders_contract)
    message = str(error.value)
    assert "missing required columns: currency, quantity" in message
    assert "expected columns: order_id, customer_id, order_ts" in message
    assert "'orders'" in message


def test_duplicated_unknown_and_missing_columns_are_all_listed(orders_contract):
    names = ["order_id", "order_id", "customer_id", "order_ts", "status", "amount", "currency", "price"]
    with pytest.raises(HeaderError) as error:
        check_header(names, orders_contract)
    message = str(error.value)
    assert "duplicated columns: order_id" in message
    assert "unknown columns: price" in message
    assert "missing required columns: quantity" in message
    assert message.index("duplicated") < message.index("unknown") < message.index("missing")


def test_names_are_case_sensitive(orders_contract):
    names = [n.upper() if n == "order_id" else n for n in orders_contract.column_names]
    with pytest.raises(HeaderError, match="unknown columns: ORDER_ID"):
        check_header(names, orders_contract)


@pytest.mark.parametrize(("separator", "label"), [(b";", "semicolon"), (b"\t", "tab"), (b"|", "pipe")])
def test_header_with_another_delimiter_gets_a_hint(orders_contract, separator, label):
    raw = ORDERS_HEADER.replace(b",", separator)
    with pytest.raises(HeaderError, match=f"header looks {label}-delimited; files must be comma-separated"):
        check_header(parse_header(raw), orders_contract)


def test_file_without_header_is_rejected(orders_contract):
    with pytest.raises(HeaderError, match="the file has no header row"):
        check_header(parse_header(b""), orders_contract)
    with pytest.raises(HeaderError, match="the file has no header row"):
        check_header([""], orders_contract)
