"""`jsonschema` as an independent oracle of the vectorised validator (issue 15).

For generated contracts and CSV rows, the pipeline's verdict on each row equals jsonschema's verdict on the typed
row, with `FormatChecker` (and `rfc3339-validator`) checking `date` and `date-time`. The CSV-to-type coercion is
written out here, and so is every place where the two must differ:

* text -> value: a null spelling (`x-null-values`) is null; an integer column's `[+-]digits` within 64 bits is an
  int, a number column's decimal or exponent text is a float when finite, a boolean column's `true/t/yes/y/1`
  and `false/f/no/n/0` (any case) are booleans; anything else stays the raw string, which the type rejects;
* `date-time`: the pipeline also reads a space instead of `T`, a missing offset (UTC) and `+HHMM`; those are
  rewritten to RFC 3339 before jsonschema judges them. RFC 3339's leap second (`:60`) is refused by the
  pipeline (not generated here);
* 64-bit integers and finite doubles: JSON Schema has no range, the pipeline does (out of range stays a string);
* `enum` on a nullable column: the pipeline applies it to non-null values only, JSON Schema would test null
  too, so `null` is added to the oracle's enum.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import re
from typing import Any

import pytest
from conftest import validate_csv
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.runtime.contract.loader import parse_contract
from pipeline.runtime.rows.validate import FALSE, NUMBER, TRUE

jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("rfc3339_validator")  # without it FormatChecker does not check date-time at all

POOLS = {
    "string": ["ABC", "a1", "abc", "Zed", "é", "x y", "12", "NA"],
    "integer": ["0", "-3", "+7", "12", "007", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                "1.5", "1e3", "abc", " 1"],
    "number": ["0", ".5", "1e3", "-2.25", "+4.", "1e400", "1E-2", "abc", "1,5", "inf", "NaN"],
    "boolean": ["true", "F", "yes", "N", "0", "1", "TRUE", "maybe", "on"],
    "date": ["2024-02-29", "2023-02-29", "2024-1-01", "2024-12-31", "2024-13-01", "1999-01-01", "20240101",
             "2024-02-29T00:00:00Z"],
    "timestamp": ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00+02:00", "2024-01-01 10:00:00", "2024-01-01T25:00:00Z",
                  "2024-01-01T10:00:00.123456789-05:00", "2024-01-01", "2024-02-30T00:00:00Z",
                  "2024-01-01T10:00:00+0530", "2024-01-01T10:00:00+24:00", "2024-01-01T10:00:00z",
                  "2024-01-01T23:59:59.5Z"],
}  # fmt: skip
NULLS = ["", "NA"]
TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)(Z|z|[+-]\d{2}:?\d{2})?$")


@st.composite
def columns(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(POOLS)))
    spec: dict[str, Any] = {
        "string": {"type": "string"}, "integer": {"type": "integer"}, "number": {"type": "number"},
        "boolean": {"type": "boolean"}, "date": {"type": "string", "format": "date"},
        "timestamp": {"type": "string", "format": "date-time"},
    }[kind]  # fmt: skip
    if kind == "string":
        if draw(st.booleans()):
            spec["pattern"] = draw(st.sampled_from(["^[A-Z]+$", "[0-9]", "^a", "b|c"]))
        if draw(st.booleans()):
            spec["minLength"] = draw(st.integers(0, 3))
        if draw(st.booleans()):
            spec["maxLength"] = draw(st.integers(1, 4))
        if draw(st.booleans()):
            spec["enum"] = draw(st.lists(st.sampled_from(POOLS["string"]), min_size=1, max_size=3, unique=True))
    if kind in ("integer", "number"):
        for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if draw(st.integers(0, 3)) == 0:
                spec[keyword] = draw(st.sampled_from([-3, 0, 1, 7, 12, 0.5]))
        if kind == "integer" and draw(st.integers(0, 3)) == 0:
            spec["enum"] = draw(st.lists(st.sampled_from([0, 7, 12, -3]), min_size=1, max_size=3, unique=True))
    if kind == "boolean" and draw(st.integers(0, 3)) == 0:
        spec["enum"] = [draw(st.booleans())]
    if draw(st.booleans()):
        spec["type"] = [spec["type"], "null"]
    return {"kind": kind, "spec": spec}


def _typed(text: str, kind: str) -> Any:
    """The pipeline's CSV-to-type coercion, written out independently of the validator."""
    if text in NULLS:
        return None
    if kind == "integer":
        if re.fullmatch(r"[+-]?[0-9]+", text) and -(2**63) <= int(text) < 2**63:
            return int(text)
        return text
    if kind == "number":
        if re.fullmatch(NUMBER, text) and math.isfinite(float(text)):
            return float(text)
        return text
    if kind == "boolean":
        lowered = text.lower()
        return True if lowered in TRUE else False if lowered in FALSE else text
    if kind == "timestamp":
        match = TIMESTAMP.match(text)
        if match:
            day, clock, zone = match.groups()
            zone = "Z" if zone in (None, "z") else zone if ":" in zone or zone == "Z" else f"{zone[:3]}:{zone[3:]}"
            return f"{day}T{clock}{zone}"
    return text


def _oracle_schema(document: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(document)
    for spec in schema["properties"].values():
        if "enum" in spec and isinstance(spec["type"], list):
            spec["enum"] = [*spec["enum"], None]
    return schema


@settings(max_examples=150, deadline=None)
@given(
    st.lists(columns(), min_size=1, max_size=4),
    st.data(),
)
def test_the_validator_agrees_with_jsonschema_on_every_row(cols, data):
    names = [f"c{i}" for i in range(len(cols))]
    document = {
        "type": "object",
        "properties": {"row_id": {"type": "string"}, **{n: c["spec"] for n, c in zip(names, cols, strict=True)}},
        "required": ["row_id", *names],
        "additionalProperties": False,
        "x-primary-key": ["row_id"],
        "x-null-values": NULLS,
    }
    contract = parse_contract("oracle", document)
    rows = [
        [f"r{i}", *(data.draw(st.sampled_from(POOLS[c["kind"]] + NULLS)) for c in cols)]
        for i in range(data.draw(st.integers(1, 12)))
    ]
    body = io.StringIO()
    csv.writer(body, lineterminator="\n").writerows(rows)
    page = validate_csv(contract, body.getvalue())
    rejected = {r.line - 2 for r in page.rejects}
    validator = jsonschema.Draft202012Validator(_oracle_schema(document), format_checker=jsonschema.FormatChecker())
    for i, row in enumerate(rows):
        instance = {"row_id": row[0], **{n: _typed(v, c["kind"]) for n, v, c in zip(names, row[1:], cols, strict=True)}}
        oracle_valid = validator.is_valid(instance)
        assert (i not in rejected) == oracle_valid, (
            document, row, instance, [e.message for e in validator.iter_errors(instance)],
            [r.reasons for r in page.rejects if r.line - 2 == i],
        )  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "value", "valid"),
    [
        ({"exclusiveMaximum": 0.5}, "9223372036854775807", False),
        ({"exclusiveMaximum": 0.5}, "0", True),
        ({"minimum": 1.5}, "1", False),
        ({"minimum": 1.5}, "2", True),
        ({"maximum": 7.0}, "9223372036854775807", False),
        ({"maximum": 1e30}, "9223372036854775807", True),
        ({"minimum": -1e30}, "-9223372036854775808", True),
        ({"exclusiveMinimum": 1e30}, "5", False),
    ],
)
def test_an_integer_column_with_a_float_bound_judges_64_bit_values_without_crashing(rule, value, valid):
    """Found by the oracle above: Arrow cast int64 to double for a float bound and raised beyond 2**53."""
    contract = parse_contract(
        "bounds",
        {"type": "object", "properties": {"id": {"type": "string"}, "n": {"type": "integer", **rule}},
         "required": ["id", "n"], "x-primary-key": ["id"]},
    )  # fmt: skip
    page = validate_csv(contract, f"a,{value}\n")
    assert (not page.rejects) is valid
