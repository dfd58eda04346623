"""Property checks (hypothesis): any text and any typed value reads back through LazySimpleSerDe unchanged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

hypothesis = pytest.importorskip("hypothesis")

import pyarrow as pa  # noqa: E402
from conftest import every_kind_contract, serde_rows  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.runtime.sinks.text_format import decode_text, decode_texts, escape_text, render, render_lines  # noqa: E402

CONTRACT = every_kind_contract()

SPECIAL = st.sampled_from(
    ["\t", "\n", "\r", "\\", ",", '"', "'", "ü", "😀", "\\n", "\\t", "\\\t", " ", "\x00", "\ufeff", "\\N", "\\ufeff"]
)
# Any text, the empty string included: NULL is written `\\N`, so '' reads back as ''.
TEXT = st.lists(
    st.one_of(SPECIAL, st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)),
    max_size=12,
).map("".join)

ROW = st.fixed_dictionaries(
    {
        "id": TEXT,
        "s": st.none() | TEXT,
        "n": st.none() | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
        "x": st.none() | st.floats(allow_nan=False, allow_infinity=False),
        "b": st.none() | st.booleans(),
        "d": st.none() | st.dates(),
        "ts": st.none()
        | st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
            lambda t: t.replace(tzinfo=UTC)
        ),
    }
)

TYPES = {
    "id": pa.string(),
    "s": pa.string(),
    "n": pa.int64(),
    "x": pa.float64(),
    "b": pa.bool_(),
    "d": pa.date32(),
    "ts": pa.timestamp("us", tz="UTC"),
}


def _table(rows: list[dict]) -> pa.Table:
    return pa.table({name: pa.array([r[name] for r in rows], kind) for name, kind in TYPES.items()})


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT | st.none(), min_size=1, max_size=20))
def test_any_text_round_trips_and_nulls_stay_null(values):
    rows = [
        {"id": f"k{i}", "s": v, "n": None, "x": None, "b": None, "d": None, "ts": None} for i, v in enumerate(values)
    ]
    decoded = serde_rows(render(render_lines(_table(rows), CONTRACT)), CONTRACT)
    assert [r["s"] for r in decoded] == values


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ROW, min_size=1, max_size=10))
def test_any_typed_row_round_trips(rows):
    table = _table(rows)
    decoded = serde_rows(render(render_lines(table, CONTRACT)), CONTRACT)
    assert decoded == table.to_pylist()


@settings(max_examples=300, deadline=None, database=None)
@given(TEXT)
def test_decode_text_inverts_escape_text_and_the_result_holds_no_tab_line_break_or_bom(value):
    escaped = escape_text(pa.array([value])).to_pylist()[0]
    assert not set(escaped) & {"\t", "\n", "\r", "\ufeff"}
    assert decode_text(escaped) == value


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(TEXT | st.none(), max_size=20), st.integers(0, 5))
def test_decode_texts_is_decode_text_on_every_value_of_an_array_or_a_slice(values, start):
    escaped = escape_text(pa.array(values, pa.string()))
    assert decode_texts(escaped).to_pylist() == values
    assert decode_texts(escaped.slice(start)).to_pylist() == values[start:]
    chunked = pa.chunked_array([escaped.slice(0, start), escaped.slice(start)], pa.string())
    assert decode_texts(chunked).to_pylist() == values


@given(st.lists(st.one_of(st.none(), st.datetimes(max_value=datetime(9999, 12, 31))), max_size=30))
def test_timestamp_and_date_text_is_what_strftime_prints(values: list[datetime | None]) -> None:
    import pyarrow.compute as pc

    from pipeline.runtime.sinks.text_format import _iso_text

    stamps = pa.array([v.replace(tzinfo=UTC) if v else None for v in values], pa.timestamp("us", tz="UTC"))
    assert _iso_text(stamps).to_pylist() == pc.strftime(stamps, "%Y-%m-%d %H:%M:%S").to_pylist()
    days = pa.array([v.date() if v else None for v in values], pa.date32())
    assert _iso_text(days).to_pylist() == pc.strftime(days, "%Y-%m-%d").to_pylist()
