"""Vectorised validation and type coercion of string columns against a dataset contract."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.runtime.contract import Column, Contract
from pipeline.runtime.rows.parse import ParsedPage, Reject

INTEGER = r"^[+-]?[0-9]+$"
NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP = (
    r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[T ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<frac>[0-9]{1,9}))?(?P<tz>Z|z|[+-][0-9]{2}:?[0-9]{2})?$"
)
TRUE = ("true", "1", "t", "yes", "y")
FALSE = ("false", "0", "f", "no", "n")
INT64_MAX = 2**63 - 1
# Years 0001-9999, the range of SQL's DATE and TIMESTAMP (Athena, Hive) and of ISO 8601 without expansion.
FIRST_DAY, LAST_DAY = -719_162, 2_932_896  # 0001-01-01 and 9999-12-31, in days since 1970-01-01
DAY_US = 86_400_000_000
FIRST_US, LAST_US = FIRST_DAY * DAY_US, (LAST_DAY + 1) * DAY_US - 1  # in UTC microseconds since the epoch


@dataclass
class ValidatedPage:
    """Typed valid rows with their source lines, and every rejected record with its reasons."""

    table: pa.Table
    lines: np.ndarray
    rejects: list[Reject]
    input_rows: int


class _Violations:
    """Collects (mask, message) pairs; a row is rejected when any mask is true for it."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.items: list[tuple[np.ndarray, str]] = []

    def add(self, mask: pa.Array | pa.ChunkedArray, message: str) -> None:
        array = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)
        if array.any():
            self.items.append((array, message))

    def any(self) -> np.ndarray:
        out = np.zeros(self.rows, dtype=bool)
        for mask, _ in self.items:
            out |= mask
        return out

    def reasons(self, row: int) -> list[str]:
        return [message for mask, message in self.items if mask[row]]


def _compare(values: pa.ChunkedArray, op: str, bound: float) -> pa.ChunkedArray | pa.Array:
    """``values <op> bound``; for 64-bit integers against the equivalent integer bound, never through a double.

    Arrow compares int64 with a float bound by casting the values to double, which raises for values beyond
    2**53 (found by the jsonschema oracle test): `v < 1.5` is `v < 2`, `v > 1.5` is `v > 1`, and a bound
    outside the int64 range is true or false for every value.
    """
    compute = {"<": pc.less, ">": pc.greater, "<=": pc.less_equal, ">=": pc.greater_equal}[op]
    if not pa.types.is_integer(values.type):
        return compute(values, bound)
    whole = math.ceil(bound) if op in ("<", ">=") else math.floor(bound)
    if not -INT64_MAX - 1 <= whole <= INT64_MAX:
        always = (whole > INT64_MAX) == (op in ("<", "<="))
        return pc.if_else(pc.is_valid(values), always, None)
    return compute(values, pa.scalar(whole, pa.int64()))


def _in_range(values: pa.ChunkedArray, column: Column, present: pa.ChunkedArray, v: _Violations) -> None:
    n = column.name
    if column.minimum is not None:
        v.add(pc.and_(present, _compare(values, "<", column.minimum)), f"{n}: below minimum {column.minimum}")
    if column.maximum is not None:
        v.add(pc.and_(present, _compare(values, ">", column.maximum)), f"{n}: above maximum {column.maximum}")
    if column.exclusive_minimum is not None:
        v.add(
            pc.and_(present, _compare(values, "<=", column.exclusive_minimum)),
            f"{n}: not above exclusive minimum {column.exclusive_minimum}",
        )
    if column.exclusive_maximum is not None:
        v.add(
            pc.and_(present, _compare(values, ">=", column.exclusive_maximum)),
            f"{n}: not below exclusive maximum {column.exclusive_maximum}",
        )


def _without_plus(raw: pa.ChunkedArray) -> pa.ChunkedArray:
    """``raw`` without a leading `+` (Arrow's casts refuse one); the regex pass runs only when one is there."""
    if not pc.any(pc.starts_with(raw, "+")).as_py():
        return raw
    return pc.replace_substring_regex(raw, r"^\+", "")


def _integers(raw: pa.ChunkedArray, present: pa.ChunkedArray, column: Column, v: _Violations) -> pa.Array:
    looks = pc.match_substring_regex(raw, INTEGER)
    v.add(pc.and_(present, pc.invert(looks)), f"{column.name}: not an integer")
    digits = pc.utf8_length(pc.utf8_ltrim(raw, "+-0"))
    safe = pc.and_(looks, pc.less_equal(digits, 18))
    big = np.flatnonzero(pc.fill_null(pc.and_(looks, pc.invert(safe)), False).to_numpy(zero_copy_only=False))
    overflow = np.zeros(len(raw), dtype=bool)
    ok = np.asarray(pc.fill_null(safe, False).to_numpy(zero_copy_only=False), dtype=bool).copy()
    raw_list = raw.to_pylist() if big.size else []
    for i in big.tolist():  # 19+ digit numbers are rare: check them exactly (and never int() a huge one)
        significant = raw_list[i].lstrip("+-0")
        sign = -1 if raw_list[i].startswith("-") else 1
        if len(significant) <= 19 and -INT64_MAX - 1 <= sign * int(significant or "0") <= INT64_MAX:
            ok[i] = True
        else:
            overflow[i] = True
    v.add(pa.array(overflow), f"{column.name}: integer out of 64-bit range")
    cleaned = pc.if_else(pa.array(ok), _without_plus(raw), pa.scalar(None, pa.string()))
    return pc.cast(cleaned, pa.int64())


def _numbers(raw: pa.ChunkedArray, present: pa.ChunkedArray, column: Column, v: _Violations) -> pa.Array:
    looks = pc.match_substring_regex(raw, NUMBER)
    v.add(pc.and_(present, pc.invert(looks)), f"{column.name}: not a number")
    values = pc.cast(
        pc.if_else(looks, _without_plus(raw), pa.scalar(None, pa.string())), pa.float64()
    )
    v.add(pc.and_(looks, pc.invert(pc.is_finite(values))), f"{column.name}: number out of range")
    return pc.if_else(pc.is_finite(values), values, pa.scalar(None, pa.float64()))


def _booleans(raw: pa.ChunkedArray, present: pa.ChunkedArray, column: Column, v: _Violations) -> pa.Array:
    lower = pc.utf8_lower(raw)
    is_true = pc.is_in(lower, pa.array(TRUE))
    is_false = pc.is_in(lower, pa.array(FALSE))
    v.add(pc.and_(present, pc.invert(pc.or_(is_true, is_false))), f"{column.name}: not a boolean (true/false)")
    return pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))


def _digits(text: pa.ChunkedArray | pa.Array) -> pa.Array:
    """``YYYY-MM-DD[ HH:MM:SS]`` text (already matched by a regex) as the integer ``YYYYMMDD[HHMMSS]``."""
    for separator in ("-", ":", " "):
        text = pc.replace_substring(text, separator, "")
    return pc.cast(text, pa.int64())


def _same_fields(parsed: pa.ChunkedArray | pa.Array, text: pa.ChunkedArray | pa.Array, with_time: bool) -> pa.Array:
    """True where ``parsed`` shows the very fields written in ``text``: strptime rolls 2024-02-30 over to
    2024-03-01 and 23:59:60 to the next day; comparing fields as one integer catches both without strftime."""
    value = pc.add(pc.multiply(pc.year(parsed), 10_000), pc.add(pc.multiply(pc.month(parsed), 100), pc.day(parsed)))
    if with_time:
        clock = pc.add(
            pc.multiply(pc.hour(parsed), 10_000), pc.add(pc.multiply(pc.minute(parsed), 100), pc.second(parsed))
        )
        value = pc.add(pc.multiply(value, 1_000_000), clock)
    return pc.equal(value, _digits(text))


def _exact_dates(text: pa.ChunkedArray) -> pa.Array:
    """Parse YYYY-MM-DD, rejecting days that strptime would roll over (2024-02-30 is not 2024-03-01)."""
    parsed = pc.strptime(text, "%Y-%m-%d", "s", error_is_null=True)
    return pc.if_else(_same_fields(parsed, text, with_time=False), parsed, None)


def _dates(raw: pa.ChunkedArray, present: pa.ChunkedArray, column: Column, v: _Violations) -> pa.Array:
    looks = pc.match_substring_regex(raw, DATE)
    parsed = _exact_dates(pc.if_else(looks, raw, pa.scalar(None, pa.string())))
    v.add(pc.and_(present, pc.is_null(parsed)), f"{column.name}: not a valid date (YYYY-MM-DD)")
    days = pc.cast(parsed, pa.date32())
    number = pc.cast(days, pa.int32())  # outside years 0001-9999 a date has no ISO text (nor a SQL DATE)
    if not _within(number, FIRST_DAY, LAST_DAY):
        v.add(
            pc.or_(pc.less(number, FIRST_DAY), pc.greater(number, LAST_DAY)), f"{column.name}: year outside 0001-9999"
        )
    return days


def _within(values: pa.ChunkedArray | pa.Array, first: int, last: int) -> bool:
    """True when every non-null value lies in [first, last] (one pass; the masks are built only otherwise)."""
    bounds = pc.min_max(values)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return low is None or (low >= first and high <= last)


def _exact_timestamps(raw: pa.ChunkedArray) -> pa.Array:
    """UTC instants of values matching TIMESTAMP, field by field; null for anything else or impossible."""
    parts = pc.extract_regex(raw, TIMESTAMP)
    day, time = pc.struct_field(parts, "date"), pc.struct_field(parts, "time")
    frac, tz = pc.struct_field(parts, "frac"), pc.struct_field(parts, "tz")
    joined = pc.binary_join_element_wise(day, time, " ")
    base = pc.strptime(joined, "%Y-%m-%d %H:%M:%S", "us", error_is_null=True)
    base = pc.if_else(_same_fields(base, joined, with_time=True), base, None)
    micros = pc.cast(pc.utf8_slice_codeunits(pc.utf8_rpad(frac, 6, "0"), 0, 6), pa.int64())
    micros = pc.if_else(pc.equal(pc.utf8_length(frac), 0), 0, micros)
    tz_clean = pc.replace_substring(pc.if_else(pc.is_in(tz, pa.array(["", "Z", "z"])), "+0000", tz), ":", "")
    sign = pc.if_else(pc.starts_with(tz_clean, "-"), -1, 1)
    hours = pc.cast(pc.utf8_slice_codeunits(tz_clean, 1, 3), pa.int64())
    minutes = pc.cast(pc.utf8_slice_codeunits(tz_clean, 3, 5), pa.int64())
    offset_us = pc.multiply(sign, pc.add(pc.multiply(hours, 3_600_000_000), pc.multiply(minutes, 60_000_000)))
    valid_offset = pc.and_(pc.less_equal(hours, 23), pc.less_equal(minutes, 59))
    total = pc.subtract(pc.add(pc.cast(base, pa.int64()), micros), offset_us)
    return pc.if_else(valid_offset, pc.cast(total, pa.timestamp("us", tz="UTC")), None)


def _timestamps(raw: pa.ChunkedArray, present: pa.ChunkedArray, column: Column, v: _Violations) -> pa.Array:
    looks = pc.match_substring_regex(raw, TIMESTAMP)
    try:  # usually every well-formed value has a zone: Arrow's ISO 8601 cast reads them as the exact path does
        result = pc.cast(pc.if_else(looks, raw, pa.scalar(None, pa.string())), pa.timestamp("us", tz="UTC"))
    except pa.ArrowInvalid:  # an impossible date or time, no zone, 'z', or 7-9 fraction digits somewhere
        result = _exact_timestamps(raw)
    v.add(
        pc.and_(present, pc.is_null(result)),
        f"{column.name}: not a valid timestamp (YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM])",
    )
    micros = pc.cast(result, pa.int64())
    if not _within(micros, FIRST_US + DAY_US, LAST_US):  # within a day of year 0001, 0000 as written is possible
        outside = pc.or_(pc.less(micros, FIRST_US), pc.greater(micros, LAST_US))
        outside = pc.or_(outside, pc.and_(pc.is_valid(result), pc.starts_with(raw, "0000")))
        v.add(outside, f"{column.name}: year outside 0001-9999 (as written or in UTC)")
    return result


_CONVERTERS = {
    "integer": _integers,
    "number": _numbers,
    "boolean": _booleans,
    "date": _dates,
    "timestamp": _timestamps,
}


def _pattern_mask(raw: pa.ChunkedArray, pattern: str) -> pa.Array:
    """True where ``raw`` matches ``pattern`` anywhere (JSON Schema semantics); RE2 first, Python re if needed."""
    try:
        return pc.match_substring_regex(raw, pattern)
    except pa.ArrowInvalid:
        compiled = re.compile(pattern)
        return pa.array([None if s is None else bool(compiled.search(s)) for s in raw.to_pylist()], pa.bool_())


def _validate_column(raw: pa.ChunkedArray, column: Column, nulls: pa.Array, v: _Violations) -> pa.Array:
    name = column.name
    is_null = pc.or_(pc.is_null(raw), pc.is_in(raw, nulls))
    present = pc.invert(is_null)
    if not column.nullable:
        v.add(is_null, f"{name}: value is required")
    values: pa.Array | pa.ChunkedArray
    if column.kind == "string":
        values = raw
        if column.pattern is not None:
            v.add(
                pc.and_(present, pc.invert(_pattern_mask(raw, column.pattern))),
                f"{name}: does not match {column.pattern}",
            )
        if column.max_length is not None:
            v.add(
                pc.and_(present, pc.greater(pc.utf8_length(raw), column.max_length)),
                f"{name}: longer than {column.max_length} characters",
            )
        if column.min_length is not None:
            v.add(
                pc.and_(present, pc.less(pc.utf8_length(raw), column.min_length)),
                f"{name}: shorter than {column.min_length} characters",
            )
    else:
        values = _CONVERTERS[column.kind](raw, present, column, v)
        if column.kind in ("integer", "number"):
            _in_range(values, column, present, v)
    if column.enum is not None:
        allowed = pa.array([str(x) for x in column.enum]) if column.kind == "string" else pa.array(list(column.enum))
        shown = ", ".join(str(x) for x in column.enum)
        v.add(pc.and_(present, pc.invert(pc.is_in(values, allowed))), f"{name}: not one of {shown}")
    return pc.if_else(is_null, pa.scalar(None, values.type), values)


def validate_page(parsed: ParsedPage, contract: Contract) -> ValidatedPage:
    """Validate every row of ``parsed`` against ``contract``; return typed valid rows and all rejects."""
    table = parsed.table
    rows = table.num_rows
    violations = _Violations(rows)
    nulls = pa.array(list(contract.null_values), pa.string())
    typed: dict[str, pa.Array] = {}
    for column in contract.columns:
        if column.name in table.column_names:
            raw = table.column(column.name)
        else:  # an optional column the file does not have: every value is null
            raw = pa.chunked_array([pa.nulls(rows, pa.string())])
        typed[column.name] = _validate_column(raw, column, nulls, violations)
    bad = violations.any()
    rejects = list(parsed.rejects)
    if bad.any():
        for row_no in np.flatnonzero(bad).tolist():
            rejects.append(Reject(int(parsed.lines[row_no]), violations.reasons(row_no), parsed.raw_text(row_no)))
        rejects.sort(key=lambda r: r.line)
    good = pa.array(~bad)
    valid = pa.table(typed).filter(good) if bad.any() else pa.table(typed)
    return ValidatedPage(table=valid, lines=parsed.lines[~bad], rejects=rejects, input_rows=parsed.input_rows)
