"""Values Athena returns that Python cannot hold come back as their text instead of failing the fetch."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from pipeline.tools.query.values import TolerantConverter


@pytest.mark.parametrize(
    ("type_", "text", "expected"),
    [
        ("timestamp", "2024-05-01 10:00:00.123", datetime(2024, 5, 1, 10, 0, 0, 123000)),
        ("date", "2024-05-01", date(2024, 5, 1)),
        ("bigint", "42", 42),
        ("decimal", "1.50", Decimal("1.50")),
        ("varchar", "10000-01-01", "10000-01-01"),
    ],
)
def test_values_python_can_hold_convert_as_pyathena_converts_them(type_, text, expected):
    assert TolerantConverter().convert(type_, text) == expected


@pytest.mark.parametrize(
    ("type_", "text"),
    [
        ("timestamp", "10000-01-01 04:59:59"),  # what a year past 9999 looks like coming back (DuckDB locally)
        ("timestamp", "0001-01-01 (BC) 00:00:00"),  # year 0000
        ("date", "0001-01-01 (BC)"),
        ("date", "+10000-01-01"),
        ("decimal", "not a number"),
        ("bigint", "1.5"),
    ],
)
def test_values_python_cannot_hold_come_back_as_their_text(type_, text):
    assert TolerantConverter().convert(type_, text) == text


def test_nulls_stay_nulls():
    assert TolerantConverter().convert("timestamp", None) is None
