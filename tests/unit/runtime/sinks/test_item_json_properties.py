"""Property checks (hypothesis): vectorised DynamoDB wire JSON equals the per-row reference it replaced."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from conftest import build_items, every_kind_contract, make_contract  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.runtime.sinks import item_json  # noqa: E402
from pipeline.runtime.sinks.dynamodb import encode_items, record_key  # noqa: E402

CONTRACT = every_kind_contract()
TYPES = {"id": pa.string(), "s": pa.string(), "n": pa.int64(), "x": pa.float64(), "b": pa.bool_()}
TYPES |= {"d": pa.date32(), "ts": pa.timestamp("us", tz="UTC")}

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)
SPECIAL = st.sampled_from(["#", "\\", '"', "\n", "\r", "\t", "\x00", "\x1f", "ü", "😀", "\u2028", ""])
STRINGS = st.lists(st.one_of(TEXT, SPECIAL), max_size=4).map("".join)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
INSTANTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def reference_items(table: pa.Table, dataset: str, job_id: str, lines: list[int]) -> list[dict[str, Any]]:
    """The per-row item builder the vectorised encoder replaced (the last row wins a repeated key)."""
    kinds = {"s": "string", "n": "integer", "x": "number", "b": "boolean", "d": "date", "ts": "timestamp"}
    table = table.set_column(5, "d", pc.strftime(table.column("d"), "%Y-%m-%d"))
    table = table.set_column(6, "ts", pc.strftime(table.column("ts"), "%Y-%m-%dT%H:%M:%SZ"))
    rows = table.to_pylist()
    items: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        pk = record_key(dataset, [row["id"]])
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "dataset": {"S": dataset},
            "job_id": {"S": job_id},
            "line": {"N": str(lines[i])},
            "id": {"S": row["id"]},
        }
        for name, kind in kinds.items():
            value = row[name]
            if value is None:
                continue
            if kind == "string":
                item[name] = {"S": value}
            elif kind == "boolean":
                item[name] = {"BOOL": value}
            elif kind == "integer":
                item[name] = {"N": str(value)}
            elif kind == "number":
                item[name] = {"N": repr(value)}
            else:  # dates and timestamps: Arrow's strftime text (%S includes the microseconds)
                item[name] = {"S": value}
        items[pk] = item
    return list(items.values())


ROWS = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.one_of(st.sampled_from(["a", "b", "a#b", "c\\"]), STRINGS),
            "s": st.one_of(st.none(), STRINGS),
            "n": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
            "x": st.one_of(st.none(), FLOATS),
            "b": st.one_of(st.none(), st.booleans()),
            "d": st.one_of(st.none(), st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))),
            "ts": st.one_of(st.none(), INSTANTS),
        }
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ROWS, st.sampled_from(["job-1", 'j"ob\\2']))
def test_items_equal_the_per_row_reference(rows: list[dict[str, Any]], job_id: str) -> None:
    table = pa.Table.from_pylist(rows, schema=pa.schema(TYPES))
    lines = list(range(2, 2 + len(rows)))
    assert build_items(table, CONTRACT, job_id, lines) == reference_items(table, "props", job_id, lines)


@settings(max_examples=100, deadline=None)
@given(ROWS)
def test_wire_text_is_compact_json_with_each_key_once(rows: list[dict[str, Any]]) -> None:
    table = pa.Table.from_pylist(rows, schema=pa.schema(TYPES))
    texts = encode_items(table, CONTRACT, "j", list(range(len(rows)))).to_pylist()
    keys = [json.loads(text)["pk"]["S"] for text in texts]
    assert len(keys) == len(set(keys)) == len({record_key("props", [r["id"]]) for r in rows})


@settings(max_examples=300, deadline=None)
@given(st.lists(FLOATS, max_size=20))
def test_float_texts_are_python_repr(values: list[float]) -> None:
    assert item_json.float_texts(pa.array(values, pa.float64())).to_pylist() == [repr(v) for v in values]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), INSTANTS), max_size=20))
def test_timestamp_texts_are_strftime(values: list[datetime | None]) -> None:
    array = pa.array(values, pa.timestamp("us", tz="UTC"))
    assert item_json.iso_texts(array, "timestamp").equals(pc.strftime(array, "%Y-%m-%dT%H:%M:%SZ"))


def test_repeated_keys_keep_the_first_position_and_the_last_row() -> None:
    rows = [{"id": k, "s": str(i)} for i, k in enumerate(["a", "b", "a", "c", "b"])]
    table = pa.Table.from_pylist(rows, schema=pa.schema(TYPES))
    items = build_items(table, CONTRACT, "j", [10, 11, 12, 13, 14])
    assert [(i["id"]["S"], i["s"]["S"], i["line"]["N"]) for i in items] == [
        ("a", "2", "12"),
        ("b", "4", "14"),
        ("c", "3", "13"),
    ]


def test_numbers_and_booleans_in_keys_print_as_python_does() -> None:
    contract = make_contract(
        {"x": {"type": "number"}, "b": {"type": "boolean"}},
        ["x", "b"],
        dataset="odd",
        **{"x-primary-key": ["x", "b"]},
    )
    table = pa.table({"id": ["r"], "x": pa.array([5.0]), "b": [True]})
    [item] = build_items(table, contract, "j", [2])
    assert item["pk"] == {"S": "odd#5.0#True"}


def test_day_and_timestamp_edges_need_no_timezone_data() -> None:
    stamp = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    array = pa.array([stamp, stamp + timedelta(microseconds=1)], pa.timestamp("us", tz="UTC"))
    assert item_json.iso_texts(array, "timestamp").to_pylist() == [
        "2024-02-29T23:59:59.999999Z",
        "2024-03-01T00:00:00.000000Z",
    ]
