"""One stored row per primary key (the last valid one wins) and no row too large for a DynamoDB item."""

from __future__ import annotations

import pytest
from conftest import build_items, make_contract

from pipeline.runtime.rows.parse import parse_page
from pipeline.runtime.rows.store_rules import DYNAMODB_ITEM_LIMIT, apply_store_rules
from pipeline.runtime.rows.validate import validate_page


def _process(contract, body: str):
    parsed = parse_page(body.encode(), contract.column_names)
    return apply_store_rules(validate_page(parsed, contract), parsed, contract)


def _rejects(page) -> dict[int, list[str]]:
    return {r.line: r.reasons for r in page.rejects}


NOTES = make_contract({"n": {"type": "integer"}, "note": {"type": ["string", "null"]}}, ["n"])


def test_pages_without_duplicates_are_unchanged():
    parsed = parse_page(b"a,1,\nb,2,\n", NOTES.column_names)
    page = validate_page(parsed, NOTES)
    assert apply_store_rules(page, parsed, NOTES) is page


def test_last_row_of_a_repeated_key_wins_and_earlier_ones_are_rejected_with_their_text():
    page = _process(NOTES, "a,1,first\nb,2,\na,3,second\na,4,third\n")
    assert page.table.column("n").to_pylist() == [2, 4]
    assert page.lines.tolist() == [3, 5]
    assert _rejects(page) == {
        2: ["id: duplicate primary key a, superseded by line 5"],
        4: ["id: duplicate primary key a, superseded by line 5"],
    }
    assert [r.raw for r in page.rejects] == ["a,1,first", "a,3,second"]
    assert page.input_rows == page.table.num_rows + len(page.rejects) == 4


def test_an_invalid_row_does_not_supersede_the_valid_row_of_its_key():
    page = _process(NOTES, "a,1,kept\na,x,broken\n")
    assert page.table.column("note").to_pylist() == ["kept"]
    assert _rejects(page) == {3: ["n: not an integer"]}


def test_dynamodb_items_s3_rows_and_keys_agree_after_duplicates():
    page = _process(NOTES, "a,1,\nb,2,\na,3,\nc,4,\nb,5,\n")
    items = build_items(page.table, NOTES, "job", page.lines.tolist())
    assert len(items) == page.table.num_rows == 3
    stored = sorted((i["pk"]["S"], i["line"]["N"]) for i in items)
    assert stored == [("things#a", "4"), ("things#b", "6"), ("things#c", "5")]


def test_composite_keys_repeat_only_when_every_part_repeats():
    contract = make_contract({"k": {"type": "integer"}}, ["k"], **{"x-primary-key": ["id", "k"]})
    page = _process(contract, "a,1\na,2\nb,1\na,1\n")
    assert page.lines.tolist() == [3, 4, 5]
    assert _rejects(page) == {2: ["id, k: duplicate primary key a, 1, superseded by line 5"]}


def test_keys_compare_as_typed_values_not_as_text():
    contract = make_contract({"t": {"type": "string", "format": "date-time"}}, ["t"], **{"x-primary-key": ["t"]})
    page = _process(contract, "a,2024-05-01T10:00:00Z\nb,2024-05-01T12:00:00+02:00\n")
    assert page.lines.tolist() == [3]
    assert "superseded by line 3" in _rejects(page)[2][0]


BLOBS = make_contract({"blob": {"type": "string"}}, ["blob"])


def test_rows_too_large_for_a_dynamodb_item_are_rejected_not_failing_the_page():
    huge = "x" * DYNAMODB_ITEM_LIMIT
    page = _process(BLOBS, f"a,small\nb,{huge}\n")
    assert page.table.column("id").to_pylist() == ["a"]
    assert _rejects(page)[3][0].startswith("row too large for DynamoDB: about 410,")
    assert page.rejects[0].raw == f"b,{huge}"


def test_a_too_large_last_row_does_not_supersede_an_earlier_one():
    page = _process(BLOBS, f"a,small\na,{'x' * DYNAMODB_ITEM_LIMIT}\n")
    assert page.table.column("blob").to_pylist() == ["small"]
    assert list(_rejects(page)) == [3]


def test_large_rows_are_kept_when_the_dataset_skips_dynamodb():
    contract = make_contract({"blob": {"type": "string"}}, ["blob"], **{"x-dynamodb": False})
    page = _process(contract, f"a,{'x' * DYNAMODB_ITEM_LIMIT}\n")
    assert page.table.num_rows == 1 and page.rejects == []


# ------------------------------------------------------------------ DynamoDB's key and number limits

KEYED = make_contract({"x": {"type": ["number", "null"]}}, dataset="things")  # items keyed "things#<id>"


def _dynamodb_refuses(item: dict) -> bool:
    """MiniStack's own item validation (DynamoDB's documented limits): the oracle for what a write refuses."""
    from ministack.services.dynamodb import _validate_item

    return _validate_item(item, "pk") is not None


def test_a_key_over_2048_bytes_is_rejected_and_the_rest_of_the_page_kept():
    at_limit = "k" * (2048 - len("things#"))
    page = _process(KEYED, f"a,1\n{at_limit},2\n{at_limit}k,3\nb,4\n")
    assert page.table.column("id").to_pylist() == ["a", at_limit, "b"]
    assert _rejects(page) == {
        4: ["id: primary key too long for DynamoDB: the item key is 2,049 bytes (UTF-8), the limit is 2,048"]
    }
    assert page.rejects[0].raw == f"{at_limit}k,3"


def test_the_key_limit_counts_utf8_bytes_and_escapes_as_the_key_is_built():
    page = _process(KEYED, f"{'é' * 1021},1\n{'#' * 1021},2\n{'é' * 1020},3\n")
    assert page.table.column("x").to_pylist() == [3.0]  # 7 + 2,040 bytes is within the limit
    assert sorted(_rejects(page)) == [2, 3]  # 7 + 2 * 1,021 bytes: é is two bytes, `#` is escaped as `\#`
    assert all("2,049 bytes" in reasons[0] for reasons in _rejects(page).values())


def test_composite_keys_are_measured_whole():
    contract = make_contract({"k": {"type": "string"}}, ["k"], **{"x-primary-key": ["id", "k"]})
    half = "h" * 1020
    page = _process(contract, f"{half},{half}\n{half},{half}xx\n")  # things#<1020>#<1020> = 2,048 bytes
    assert page.lines.tolist() == [2]
    assert "id, k: primary key too long for DynamoDB: the item key is 2,050 bytes" in _rejects(page)[3][0]


@pytest.mark.parametrize(
    ("text", "kept"),
    [("9.99e125", True), ("1e126", False), ("-1e200", False), ("1e-130", True), ("1e-131", False), ("0", True)],
)
def test_numbers_dynamodb_cannot_store_are_rejected(text, kept):
    page = _process(KEYED, f"a,{text}\n")
    assert (page.table.num_rows == 1) is kept
    assert _rejects(page) == (
        {} if kept else {2: ["x: number out of DynamoDB's range (magnitudes 1E-130 to 9.99E+125, or 0)"]}
    )


hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

KEY_TEXT = st.text(alphabet="ab#\\é€😀", min_size=1, max_size=700).map(lambda s: s * 3)  # 3 to 2,100 characters


@settings(max_examples=150, deadline=None, database=None)
@given(st.lists(st.tuples(KEY_TEXT, st.floats(allow_nan=False, allow_infinity=False)), min_size=1, max_size=6))
def test_every_row_dynamodb_would_refuse_is_rejected_and_no_other(rows):
    """The stored rows are exactly those whose items MiniStack's DynamoDB validation accepts."""
    rows = [(f"{i}{key}", x) for i, (key, x) in enumerate(rows)]  # distinct keys: no duplicates to supersede
    body = "".join(f"{key},{x!r}\n" for key, x in rows)
    parsed = parse_page(body.encode(), KEYED.column_names)
    validated = validate_page(parsed, KEYED)
    assert validated.rejects == []
    refused = {
        line
        for item, line in zip(build_items(validated.table, KEYED, "job", validated.lines), validated.lines, strict=True)
        if _dynamodb_refuses(item)
    }
    page = apply_store_rules(validated, parsed, KEYED)
    assert set(_rejects(page)) == refused
