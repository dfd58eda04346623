"""Compare every reader's rows with what the user stored, cell by cell, and say what disagrees.

Rows are matched by primary key. A reader of the raw table (Athena, Hive, Trino) is expected to return
the documented encoded form of each text value (`spec.encoded`), DynamoDB the stored value itself; a
typed value must come back exactly (floats by `repr`, so -0.0 and 0.0 differ). A stored row the reader
lacks counts every one of its cells wrong; rows the reader has beyond them are counted too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pipeline.runtime.contract import Contract
from tests.conformance.spec import encoded

Expect = Callable[[str, Any], Any]


def stored(kind: str, value: Any) -> Any:
    """The expectation for DynamoDB: the stored value itself (its numbers have no -0, so -0.0 reads 0.0)."""
    if kind == "number" and value == 0.0:
        return 0.0
    return value


def raw_text(kind: str, value: Any) -> Any:
    """The expectation for a reader of the raw table: text in its encoded form, other types as stored."""
    return encoded(value) if kind == "string" else value


def exact(kind: str, value: Any) -> Any:
    """The expectation for a reader of a Parquet table: every value exactly as stored, text included."""
    return value


GREGORIAN_START = date(1582, 10, 15)


def hive_calendar(kind: str, value: Any) -> Any:
    """The expectation for Hive 2.x reading a Parquet table: exact, but a date or timestamp before 1582-10-15
    named in the Julian calendar. Parquet stores a day count (proleptic Gregorian); Hive 2's `java.sql.Date`
    and INT96 reader label it with the hybrid Julian/Gregorian calendar, so 0001-01-01 reads 0001-01-03."""
    if kind == "date" and value is not None and value < GREGORIAN_START:
        return julian_label(value)
    if kind == "timestamp" and value is not None and value.date() < GREGORIAN_START:
        day = julian_label(value.date())
        return datetime.combine(day, value.time())
    return value


def julian_label(day: date) -> date:
    """The Julian-calendar date of the (proleptic Gregorian) day ``day``, as a `date` carrying those numbers.

    From the day's Julian Day Number (Richards' algorithm for the Julian calendar)."""
    jdn = day.toordinal() + 1721425
    c = jdn + 32082
    d = (4 * c + 3) // 1461
    e = c - (1461 * d) // 4
    m = (5 * e + 2) // 153
    return date(d - 4800 + (m + 2) // 12, m + 3 - 12 * ((m + 2) // 12), e - (153 * m + 2) // 5 + 1)


def same(a: Any, b: Any) -> bool:
    """Exact equality: same type (True is not 1), floats by repr."""
    if a is None or b is None:
        return a is None and b is None
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return repr(a) == repr(b)
    return bool(a == b)


def partition_value(contract: Contract, row: dict[str, Any]) -> str | None:
    """The `dt=` folder value a row belongs in, from the stored value of the partition column."""
    partition = contract.partition
    if partition is None:
        return None
    value: date | datetime = row[partition.column]
    return value.isoformat()[: 10 if partition.granularity == "day" else 7]


@dataclass
class Result:
    """How one reader did on one dataset."""

    reader: str
    cells: int = 0
    wrong: int = 0
    missing_rows: int = 0
    extra_rows: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.wrong == 0 and self.extra_rows == 0

    def line(self) -> str:
        share = self.wrong / self.cells if self.cells else 0.0
        return (
            f"{self.reader:<10} {self.wrong:>6}/{self.cells:<6} cells wrong ({share:6.1%}), "
            f"{self.missing_rows} rows missing, {self.extra_rows} extra"
        )


def compare(
    reader: str,
    contract: Contract,
    truth: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    expect: Expect,
    *,
    with_partition: bool = False,
) -> Result:
    """Score ``rows`` (one reader) against ``truth`` (the stored rows) under the expectation ``expect``."""
    kinds = {c.name: c.kind for c in contract.columns}
    result = Result(reader)

    def key(row: dict[str, Any], expected: bool) -> tuple[Any, ...]:
        values = [expect(kinds[k], row[k]) if expected else row.get(k) for k in contract.primary_key]
        return tuple(repr(v) for v in values)

    found = {key(r, expected=False): r for r in rows}
    result.extra_rows = max(0, len(rows) - len(truth))
    names = [c.name for c in contract.columns]
    for stored_row in truth:
        expected = {n: expect(kinds[n], stored_row[n]) for n in names}
        if with_partition and contract.partition:
            expected[contract.partition.name] = partition_value(contract, stored_row)
        got = found.get(key(stored_row, expected=True))
        result.cells += len(expected)
        if got is None:
            result.missing_rows += 1
            result.wrong += len(expected)
            if len(result.examples) < 8:
                result.examples.append(f"row {key(stored_row, expected=True)} missing")
            continue
        for name, want in expected.items():
            if not same(got.get(name), want):
                result.wrong += 1
                if len(result.examples) < 8:
                    result.examples.append(
                        f"{name}: stored {stored_row.get(name)!r}, want {want!r}, got {got.get(name)!r}"
                    )
    return result


def report(title: str, results: list[Result]) -> str:
    """A few lines for the test log: one per reader, then the first examples of what went wrong."""
    lines = [f"== {title}"] + [r.line() for r in results]
    for r in results:
        lines += [f"   {r.reader}: {e}" for e in r.examples]
    return "\n".join(lines)
