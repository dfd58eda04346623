"""Athena values as Python objects, and as their own text when Python cannot hold them.

A value Athena returns that pyathena cannot convert (a timestamp in year 10000 or 0, a malformed decimal)
would raise inside the driver while rows are fetched and lose the whole result; it is kept as Athena's
text instead, so `pipeline query` and the console show it.
"""

from __future__ import annotations

from typing import Any

from pyathena.converter import DefaultTypeConverter


class TolerantConverter(DefaultTypeConverter):
    """pyathena's default conversions, falling back to the value's text where one fails."""

    def convert(self, type_: str, value: str | None, type_hint: str | None = None) -> Any | None:
        try:
            return super().convert(type_, value, type_hint)
        except (ValueError, TypeError, ArithmeticError):  # OverflowError and decimal errors are ArithmeticErrors
            return value
