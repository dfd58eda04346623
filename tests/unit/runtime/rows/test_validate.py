"""Validation and typing of parsed rows against a contract, one rule at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest
from conftest import make_contract, reasons_by_line, validate_csv

INT64_MAX = 2**63 - 1


def _one_column(spec: dict, *, required: bool = True, **extra):
    return make_contract({"v": spec}, ["v"] if required else [], **extra)


def _values(page, column="v"):
    return page.table.column(column).to_pylist()


# ------------------------------------------------------------------ required / nulls


def test_required_value_missing_is_rejected():
    contract = _one_column({"type": "string"})
    page = validate_csv(contract, "a,x\nb,\nc,NA\nd,NULL\n")
    assert _values(page) == ["x"]
    assert reasons_by_line(page) == {
        3: ["v: value is required"],
        4: ["v: value is required"],
        5: ["v: value is required"],
    }


def test_nullable_column_turns_null_spellings_into_nulls():
    contract = _one_column({"type": ["integer", "null"]}, required=False)
    page = validate_csv(contract, "a,\nb,NA\nc,NULL\nd,7\n")
    assert page.rejects == []
    assert _values(page) == [None, None, None, 7]


def test_x_null_values_decide_what_counts_as_null():
    contract = _one_column({"type": ["string", "null"]}, required=False, **{"x-null-values": ["-"]})
    page = validate_csv(contract, "a,-\nb,NA\nc,\n")
    assert _values(page) == [None, "NA", ""]


def test_x_null_values_apply_to_required_columns():
    contract = _one_column({"type": "integer"}, **{"x-null-values": ["?"]})
    page = validate_csv(contract, "a,?\nb,1\n")
    assert reasons_by_line(page) == {2: ["v: value is required"]}


def test_optional_column_absent_from_the_file_is_all_null():
    contract = make_contract({"n": {"type": ["integer", "null"]}, "s": {"type": ["string", "null"]}})
    page = validate_csv(contract, "a\nb\n", header=["id"])
    assert page.rejects == []
    assert page.table.column_names == ["id", "n", "s"]
    assert page.table.to_pylist() == [{"id": "a", "n": None, "s": None}, {"id": "b", "n": None, "s": None}]


def test_optional_column_absent_from_the_file_is_null_even_without_null_spellings():
    contract = make_contract({"n": {"type": ["integer", "null"]}}, **{"x-null-values": []})
    page = validate_csv(contract, "a\nb\n", header=["id"])
    assert page.rejects == []
    assert _values(page, "n") == [None, None]


def test_reordered_columns_are_validated_by_name():
    contract = make_contract({"n": {"type": "integer"}, "s": {"type": "string"}}, ["n", "s"])
    page = validate_csv(contract, "x,5,a\n", header=["s", "n", "id"])
    assert page.table.column_names == ["id", "n", "s"]
    assert page.table.to_pylist() == [{"id": "a", "n": 5, "s": "x"}]


# ------------------------------------------------------------------ integer


def test_integer_values_are_typed_int64():
    contract = _one_column({"type": "integer"})
    page = validate_csv(contract, "a,42\nb,-7\nc,007\nd,-0\n")
    assert page.table.schema.field("v").type == pa.int64()
    assert _values(page) == [42, -7, 7, 0]


@pytest.mark.parametrize("text", ["1.5", "1e3", "abc", "12a", " 1", "1 ", "0x10", "--1", "1,000"])
def test_integer_rejects_non_integers(text):
    contract = _one_column({"type": "integer"})
    page = validate_csv(contract, f'a,"{text}"\n')
    assert reasons_by_line(page) == {2: ["v: not an integer"]}


def test_integer_accepts_int64_max_and_long_zero_padded_values():
    contract = _one_column({"type": "integer"})
    page = validate_csv(contract, f"a,{INT64_MAX}\nb,{'0' * 25}1\nc,-{'0' * 25}12\n")
    assert page.rejects == []
    assert _values(page) == [INT64_MAX, 1, -12]


@pytest.mark.parametrize("text", [str(INT64_MAX + 1), str(-(INT64_MAX + 2)), "1" * 30])
def test_integer_overflow_beyond_int64_is_rejected(text):
    contract = _one_column({"type": "integer"})
    page = validate_csv(contract, f"a,{text}\nb,1\n")
    assert reasons_by_line(page) == {2: ["v: integer out of 64-bit range"]}
    assert _values(page) == [1]


def test_integer_accepts_int64_min():
    contract = _one_column({"type": "integer"})
    page = validate_csv(contract, f"a,{-(2**63)}\n")
    assert page.rejects == []
    assert _values(page) == [-(2**63)]


def test_integer_with_plus_sign_is_accepted():
    contract = _one_column({"type": "integer"})
    page = validate_csv(contract, "a,+5\nb,6\n")
    assert page.rejects == []
    assert _values(page) == [5, 6]


# ------------------------------------------------------------------ number


def test_number_values_are_typed_double():
    contract = _one_column({"type": "number"})
    page = validate_csv(contract, "a,1\nb,-2.5\nc,.5\nd,5.\ne,1e3\nf,-1E-3\ng,+1.25\n")
    assert page.rejects == []
    assert page.table.schema.field("v").type == pa.float64()
    assert _values(page) == [1.0, -2.5, 0.5, 5.0, 1000.0, -0.001, 1.25]


@pytest.mark.parametrize("text", ["abc", "1.2.3", "NaN", "inf", "-Infinity", "1e", "e5", ".", "1,5"])
def test_number_rejects_non_numbers(text):
    contract = _one_column({"type": "number"})
    page = validate_csv(contract, f'a,"{text}"\n')
    assert reasons_by_line(page) == {2: ["v: not a number"]}


def test_number_too_large_for_a_double_is_rejected():
    contract = _one_column({"type": "number"})
    page = validate_csv(contract, "a,1e400\nb,-1e400\n")
    assert page.table.num_rows == 0
    assert sorted(reasons_by_line(page)) == [2, 3]


# ------------------------------------------------------------------ minimum / maximum


def test_minimum_and_maximum_are_inclusive():
    contract = _one_column({"type": "number", "minimum": 0, "maximum": 10})
    page = validate_csv(contract, "a,0\nb,10\nc,-0.01\nd,10.5\n")
    assert _values(page) == [0.0, 10.0]
    assert reasons_by_line(page) == {4: ["v: below minimum 0"], 5: ["v: above maximum 10"]}


def test_integer_minimum_and_maximum():
    contract = _one_column({"type": "integer", "minimum": 1, "maximum": 3})
    page = validate_csv(contract, "a,0\nb,1\nc,3\nd,4\n")
    assert _values(page) == [1, 3]
    assert sorted(reasons_by_line(page)) == [2, 5]


def test_exclusive_minimum_and_maximum():
    contract = _one_column({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1})
    page = validate_csv(contract, "a,0\nb,0.5\nc,1\n")
    assert _values(page) == [0.5]
    assert reasons_by_line(page) == {2: ["v: not above exclusive minimum 0"], 4: ["v: not below exclusive maximum 1"]}


def test_range_rules_ignore_nulls():
    contract = _one_column({"type": ["number", "null"], "minimum": 5}, required=False)
    page = validate_csv(contract, "a,\nb,NA\n")
    assert page.rejects == []


# ------------------------------------------------------------------ boolean


def test_boolean_spellings_are_typed():
    contract = _one_column({"type": "boolean"})
    page = validate_csv(contract, "a,true\nb,FALSE\nc,Yes\nd,n\ne,1\nf,0\ng,T\nh,f\n")
    assert page.rejects == []
    assert page.table.schema.field("v").type == pa.bool_()
    assert _values(page) == [True, False, True, False, True, False, True, False]


@pytest.mark.parametrize("text", ["maybe", "2", "ja", "truee", "on"])
def test_boolean_rejects_other_words(text):
    contract = _one_column({"type": "boolean"})
    page = validate_csv(contract, f"a,{text}\n")
    assert reasons_by_line(page) == {2: ["v: not a boolean (true/false)"]}


# ------------------------------------------------------------------ date


def test_dates_are_typed():
    contract = _one_column({"type": "string", "format": "date"})
    page = validate_csv(contract, "a,2024-02-29\nb,1999-12-31\n")
    assert page.table.schema.field("v").type == pa.date32()
    assert _values(page) == [date(2024, 2, 29), date(1999, 12, 31)]


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30",
        "2023-02-29",
        "2024-04-31",
        "2024-13-01",
        "2024-00-10",
        "2024-1-01",
        "24-01-01",
        "2024/01/01",
        "2024-01-01T00:00:00",
        "01-02-2024",
        "tomorrow",
    ],
)
def test_invalid_dates_are_rejected_not_rolled_over(text):
    contract = _one_column({"type": "string", "format": "date"})
    page = validate_csv(contract, f"a,{text}\n")
    assert reasons_by_line(page) == {2: ["v: not a valid date (YYYY-MM-DD)"]}


# ------------------------------------------------------------------ timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-03-01T10:00:00z", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-03-01T10:00:00", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-03-01 10:00:00", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-03-01 10:00:00Z", datetime(2024, 3, 1, 10, 0, 0, tzinfo=UTC)),
        ("2024-03-01T10:00:00+02:00", datetime(2024, 3, 1, 8, 0, 0, tzinfo=UTC)),
        ("2024-03-01T10:00:00-0530", datetime(2024, 3, 1, 15, 30, 0, tzinfo=UTC)),
        ("2024-03-01T00:30:00+01:00", datetime(2024, 2, 29, 23, 30, 0, tzinfo=UTC)),
        ("2024-03-01T10:00:00.5Z", datetime(2024, 3, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-03-01T10:00:00.123456Z", datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-03-01T10:00:00.123456789+01:00", datetime(2024, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)),
        ("2024-12-31T23:30:00-01:00", datetime(2025, 1, 1, 0, 30, 0, tzinfo=UTC)),
    ],
)
def test_timestamps_are_converted_to_utc(text, expected):
    contract = _one_column({"type": "string", "format": "date-time"})
    page = validate_csv(contract, f"a,{text}\n")
    assert page.rejects == []
    assert page.table.schema.field("v").type == pa.timestamp("us", tz="UTC")
    assert _values(page) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30T10:00:00Z",
        "2024-03-01T24:00:00Z",
        "2024-03-01T10:60:00Z",
        "2024-03-01T10:00:99Z",
        "2024-03-01T10:00:00+24:00",
        "2024-03-01T10:00:00+01:60",
        "2024-03-01T10:00Z",
        "2024-03-01",
        "2024-03-01T10:00:00.Z",
        "2024-03-01T10:00:00 UTC",
        "yesterday",
    ],
)
def test_invalid_timestamps_are_rejected(text):
    contract = _one_column({"type": "string", "format": "date-time"})
    page = validate_csv(contract, f"a,{text}\n")
    assert reasons_by_line(page) == {2: ["v: not a valid timestamp (YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM])"]}


def test_timestamp_with_second_61_is_rejected_not_rolled_over():
    contract = _one_column({"type": "string", "format": "date-time"})
    page = validate_csv(contract, "a,2024-03-01T10:00:61Z\n")
    assert page.table.num_rows == 0
    assert reasons_by_line(page) == {2: ["v: not a valid timestamp (YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM])"]}


# ------------------------------------------------------------------ years 0001-9999


def _python_utc(text: str) -> datetime | None:
    """The oracle: Python's datetime reads the value and converts it to UTC (years 1-9999), or None."""
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


@pytest.mark.parametrize("zoneless_neighbour", [False, True])  # Arrow's ISO cast, and the field-by-field path
@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:59:59-05:00",  # 10000-01-01T04:59:59Z
        "0000-01-01T00:00:00Z",
        "0000-06-15T12:00:00+00:00",
        "0001-01-01T00:30:00+01:00",  # 0000-12-31T23:30:00Z
        "0000-12-31T23:00:00-01:00",  # 0001-01-01T00:00:00Z, but year 0000 as written
    ],
)
def test_timestamps_outside_years_1_to_9999_in_utc_are_rejected(text, zoneless_neighbour):
    contract = _one_column({"type": "string", "format": "date-time"})
    body = f"a,{text}\n" + ("b,2024-01-01 00:00:00\n" if zoneless_neighbour else "b,2024-01-01T00:00:00Z\n")
    page = validate_csv(contract, body)
    assert _python_utc(text) is None
    assert reasons_by_line(page) == {2: ["v: year outside 0001-9999 (as written or in UTC)"]}
    assert _values(page) == [datetime(2024, 1, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00Z", "0001-01-01T01:00:00+01:00", "9999-12-31T23:59:59.999999Z", "9999-12-31T18:59:59-05:00"],
)
def test_timestamps_at_the_edges_of_years_1_to_9999_are_kept(text):
    contract = _one_column({"type": "string", "format": "date-time"})
    page = validate_csv(contract, f"a,{text}\n")
    assert page.rejects == []
    assert _values(page) == [_python_utc(text)]


@pytest.mark.parametrize(
    ("text", "kept"), [("0000-01-01", False), ("0000-02-29", False), ("0001-01-01", True), ("9999-12-31", True)]
)
def test_dates_outside_years_1_to_9999_are_rejected(text, kept):
    contract = _one_column({"type": "string", "format": "date"})
    page = validate_csv(contract, f"a,{text}\n")
    assert reasons_by_line(page) == ({} if kept else {2: ["v: year outside 0001-9999"]})
    if kept:
        assert _values(page) == [date.fromisoformat(text)]


hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

EDGE_TIMESTAMPS = st.builds(
    lambda year, month, day, clock, zone: f"{year:04d}-{month:02d}-{day:02d}T{clock}{zone}",
    st.sampled_from([0, 1, 2, 9998, 9999]),
    st.sampled_from([1, 12]),
    st.sampled_from([1, 31]),
    st.sampled_from(["00:00:00", "00:59:59", "12:00:00", "23:00:00", "23:59:59.999999"]),
    st.sampled_from(["Z", "+00:00", "+01:00", "-01:00", "+14:00", "-12:30", ""]),
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(EDGE_TIMESTAMPS, min_size=1, max_size=8))
def test_timestamps_near_years_1_and_9999_are_kept_exactly_when_python_can_hold_them_in_utc(texts):
    contract = _one_column({"type": "string", "format": "date-time"})
    page = validate_csv(contract, "".join(f"r{i},{t}\n" for i, t in enumerate(texts)))
    expected = [_python_utc(t) for t in texts]
    assert sorted(reasons_by_line(page)) == [i + 2 for i, e in enumerate(expected) if e is None]
    assert _values(page) == [e for e in expected if e is not None]


# ------------------------------------------------------------------ string rules


def test_enum_rejects_values_outside_the_list():
    contract = _one_column({"type": "string", "enum": ["NEW", "PAID"]})
    page = validate_csv(contract, "a,NEW\nb,new\nc,PAID\n")
    assert _values(page) == ["NEW", "PAID"]
    assert reasons_by_line(page) == {3: ["v: not one of NEW, PAID"]}


def test_enum_on_integers_compares_typed_values():
    contract = _one_column({"type": "integer", "enum": [1, 2, 3]})
    page = validate_csv(contract, "a,1\nb,03\nc,4\n")
    assert _values(page) == [1, 3]
    assert reasons_by_line(page) == {4: ["v: not one of 1, 2, 3"]}


def test_pattern_must_match():
    contract = _one_column({"type": "string", "pattern": "^ORD-[0-9]{8}$"})
    page = validate_csv(contract, "a,ORD-00000001\nb,ORD-1\nc,xORD-00000001\n")
    assert _values(page) == ["ORD-00000001"]
    assert reasons_by_line(page) == {3: ["v: does not match ^ORD-[0-9]{8}$"], 4: ["v: does not match ^ORD-[0-9]{8}$"]}


def test_unanchored_pattern_matches_anywhere_like_json_schema():
    contract = _one_column({"type": "string", "pattern": "[0-9]"})
    page = validate_csv(contract, "a,ab1c\nb,abc\n")
    assert _values(page) == ["ab1c"]


def test_pattern_that_re2_cannot_run_falls_back_to_python_regex():
    contract = _one_column({"type": "string", "pattern": "^(?!X)[A-Z]+$"})
    page = validate_csv(contract, "a,ABC\nb,XYZ\nc,abc\n")
    assert _values(page) == ["ABC"]
    assert sorted(reasons_by_line(page)) == [3, 4]


def test_max_length_counts_characters_not_bytes():
    contract = _one_column({"type": "string", "maxLength": 3, "minLength": 2})
    page = validate_csv(contract, "a,üüü\nb,abcd\nc,x\nd,ab\n")
    assert _values(page) == ["üüü", "ab"]
    assert reasons_by_line(page) == {3: ["v: longer than 3 characters"], 4: ["v: shorter than 2 characters"]}


def test_string_rules_ignore_nulls():
    contract = _one_column(
        {"type": ["string", "null"], "pattern": "^x$", "enum": ["x"], "minLength": 1}, required=False
    )
    page = validate_csv(contract, "a,\nb,NA\n")
    assert page.rejects == []
    assert _values(page) == [None, None]


# ------------------------------------------------------------------ whole rows


def test_row_breaking_several_rules_lists_every_reason(orders_contract):
    row = "ORD-1,abc,2024-02-30T10:00:00Z,2024-02-30,LOST,-5,XXX,0,maybe," + "n" * 2001
    page = validate_csv(orders_contract, row + "\n")
    assert page.table.num_rows == 0
    [reject] = page.rejects
    assert reject.line == 2
    assert reject.raw == row
    assert reject.reasons == [
        "order_id: does not match ^ORD-[0-9]{8}$",
        "customer_id: not an integer",
        "order_ts: not a valid timestamp (YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM])",
        "ship_date: not a valid date (YYYY-MM-DD)",
        "status: not one of NEW, PAID, SHIPPED, DELIVERED, CANCELLED, RETURNED",
        "amount: below minimum 0",
        "currency: not one of EUR, USD, GBP",
        "quantity: below minimum 1",
        "is_gift: not a boolean (true/false)",
        "note: longer than 2000 characters",
    ]


def test_valid_orders_row_is_fully_typed(orders_contract):
    row = 'ORD-00000042,17,2024-03-05T10:15:30+01:00,,PAID,19.99,EUR,2,true,"gift, ""wrapped""\nplease"\n'
    page = validate_csv(orders_contract, row)
    assert page.rejects == []
    assert page.table.to_pylist() == [
        {
            "order_id": "ORD-00000042",
            "customer_id": 17,
            "order_ts": datetime(2024, 3, 5, 9, 15, 30, tzinfo=UTC),
            "ship_date": None,
            "status": "PAID",
            "amount": 19.99,
            "currency": "EUR",
            "quantity": 2,
            "is_gift": True,
            "note": 'gift, "wrapped"\nplease',
        }
    ]
    assert page.lines.tolist() == [2]


def test_valid_plus_rejected_equals_input_rows(orders_contract):
    body = (
        "ORD-00000001,1,2024-03-01T00:00:00Z,2024-03-02,SHIPPED,10.00,EUR,1,false,\n"
        "ORD-00000002,2,2024-03-01T00:00:00Z,,NEW,10.00,USD,1,,note\n"
        "ORD-00000003,x,2024-03-01T00:00:00Z,,NEW,10.00,USD,1,,\n"
        "too,few\n"
        "ORD-00000004,4,2024-03-01T00:00:00Z,,NEW,10.00,JPY,1,,\n"
        "ORD-00000005,5,2024-03-01T00:00:00Z,,NEW,10.00,GBP,1,,\n"
    )
    page = validate_csv(orders_contract, body, first_line=10)
    assert page.input_rows == 6
    assert page.table.num_rows + len(page.rejects) == page.input_rows
    assert page.table.column("order_id").to_pylist() == ["ORD-00000001", "ORD-00000002", "ORD-00000005"]
    assert page.lines.tolist() == [10, 11, 15]
    assert [r.line for r in page.rejects] == [12, 13, 14]
    assert page.rejects[1].reasons == ["expected 10 fields, found 2"]


def test_page_with_no_rows_validates_to_empty(orders_contract):
    page = validate_csv(orders_contract, "")
    assert page.table.num_rows == 0
    assert page.rejects == []
    assert page.input_rows == 0
