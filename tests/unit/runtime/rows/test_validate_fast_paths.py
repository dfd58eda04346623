"""Property checks (hypothesis): the fast date and timestamp paths agree with the exact, field-by-field ones."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pipeline.runtime.contract import Column  # noqa: E402
from pipeline.runtime.rows import validate  # noqa: E402


def _digits(n: int, low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda v: str(v).zfill(n))


DAYS = st.builds(lambda y, m, d: f"{y}-{m}-{d}", _digits(4, 0, 9999), _digits(2, 0, 13), _digits(2, 0, 32))
TIMES = st.builds(lambda h, m, s: f"{h}:{m}:{s}", _digits(2, 0, 25), _digits(2, 0, 61), _digits(2, 0, 61))
FRACTIONS = st.one_of(
    st.just(""), st.integers(1, 9).flatmap(lambda n: _digits(n, 0, 10**n - 1)).map(lambda digits: "." + digits)
)
ZONES = st.one_of(
    st.sampled_from(["", "Z", "z", "+00:00", "-00:00", "+24:00", "+00:60"]),
    st.builds(
        lambda s, h, m, c: f"{s}{h}{c}{m}",
        st.sampled_from("+-"),
        _digits(2, 0, 24),
        _digits(2, 0, 60),
        st.sampled_from(["", ":"]),
    ),
)
STAMPS = st.builds(lambda d, sep, t, f, z: f"{d}{sep}{t}{f}{z}", DAYS, st.sampled_from("T "), TIMES, FRACTIONS, ZONES)
VALUES = st.lists(st.one_of(STAMPS, st.sampled_from(["", "x", "2024-03-01", "2024-03-01T10:00Z"])), max_size=25)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_fast_timestamps_equal_the_exact_path(values: list[str]) -> None:
    raw = pa.chunked_array([pa.array(values, pa.string())])
    present = pc.invert(pc.is_null(raw))
    fast = validate._timestamps(raw, present, Column("t", "timestamp"), validate._Violations(len(values)))
    exact = validate._exact_timestamps(raw)
    assert fast.type == exact.type
    assert pc.cast(fast, pa.int64()).to_pylist() == pc.cast(exact, pa.int64()).to_pylist()


@settings(max_examples=300, deadline=None)
@given(st.lists(DAYS, max_size=25))
def test_exact_dates_are_the_strftime_round_trip(values: list[str]) -> None:
    text = pa.array(values, pa.string())
    parsed = pc.strptime(text, "%Y-%m-%d", "s", error_is_null=True)
    expected = pc.if_else(pc.equal(pc.strftime(parsed, "%Y-%m-%d"), text), parsed, None)
    assert validate._exact_dates(text).equals(expected)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.builds(lambda d, t: f"{d} {t}", DAYS, TIMES), max_size=25))
def test_exact_date_times_are_the_strftime_round_trip(values: list[str]) -> None:
    text = pa.array(values, pa.string())
    parsed = pc.strptime(text, "%Y-%m-%d %H:%M:%S", "us", error_is_null=True)
    same = pc.equal(pc.utf8_slice_codeunits(pc.strftime(parsed, "%Y-%m-%d %H:%M:%S"), 0, 19), text)
    assert pc.fill_null(validate._same_fields(parsed, text, with_time=True), False).equals(pc.fill_null(same, False))


@settings(max_examples=500, deadline=None)
@given(STAMPS)
def test_fast_timestamp_of_one_value_equals_the_exact_path(value: str) -> None:
    # One value at a time, so that every well-formed stamp takes Arrow's ISO 8601 cast.
    test_fast_timestamps_equal_the_exact_path.hypothesis.inner_test([value])
