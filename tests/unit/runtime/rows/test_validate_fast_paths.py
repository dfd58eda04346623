"""Property checks (hypothesis): the fast date and timestamp paths agree with the exact, field-by-field ones,
and both with an independent oracle: Python's own calendar (`datetime.date`) and integer arithmetic."""

from __future__ import annotations

import re
from datetime import date

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


# The documented format, YYYY-MM-DD[T| ]HH:MM:SS[.f{1,9}][Z|z|±HH[:]MM], written out again for the oracle
ISO_STAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|z|[+-][0-9]{4}|[+-][0-9]{2}:[0-9]{2})?"
)
EPOCH = date(1970, 1, 1).toordinal()


def _ordinal(year: int, month: int, day: int) -> int:
    """`date.toordinal`, extended to year 0 (a leap year in the proleptic Gregorian calendar); ValueError if none."""
    if year >= 1:
        return date(year, month, day).toordinal()
    return date(2000, month, day).timetuple().tm_yday - 366  # 2000 is leap as year 0 is


def oracle_micros(value: str) -> int | None:
    """The UTC instant of ``value`` in microseconds since 1970, by Python's calendar; None if it is none."""
    match = ISO_STAMP.fullmatch(value)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", (match.group(8) or "Z").replace(":", "")
    offset_hours, offset_minutes = (0, 0) if zone in ("Z", "z") else (int(zone[1:3]), int(zone[3:5]))
    if hour > 23 or minute > 59 or second > 59 or offset_hours > 23 or offset_minutes > 59:
        return None
    try:
        days = _ordinal(year, month, day) - EPOCH
    except ValueError:
        return None
    offset = (-1 if zone.startswith("-") else 1) * (offset_hours * 3600 + offset_minutes * 60)
    micros = int((fraction + "000000")[:6])  # digits past the sixth are dropped, not rounded
    return ((days * 86400 + hour * 3600 + minute * 60 + second) - offset) * 1_000_000 + micros


@settings(max_examples=500, deadline=None)
@given(VALUES)
def test_timestamps_equal_python_calendar_arithmetic(values: list[str]) -> None:
    raw = pa.chunked_array([pa.array(values, pa.string())])
    present = pc.invert(pc.is_null(raw))
    fast = validate._timestamps(raw, present, Column("t", "timestamp"), validate._Violations(len(values)))
    assert pc.cast(fast, pa.int64()).to_pylist() == [oracle_micros(v) for v in values]
