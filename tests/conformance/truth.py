"""What the user stored: Python's `csv` module reading the source file, typed by the contract's rules.

Independent of the pipeline's parser and validator: this is the oracle every reader is compared with.
Values are Python objects: `str`, `int`, `float`, `bool`, `date`, and UTC `datetime` without tzinfo
(microseconds, extra fraction digits truncated), `None` for a null spelling or a missing column.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline.runtime.contract import Contract

_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:?\d{2})?\Z")
_TRUE, _FALSE = {"true", "1", "t", "yes", "y"}, {"false", "0", "f", "no", "n"}


def timestamp(text: str) -> datetime:
    """`YYYY-MM-DD[T ]HH:MM:SS[.f{1,9}][Z|±HH[:]MM]` as a naive UTC datetime (no zone means UTC)."""
    m = _TIMESTAMP.match(text)
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    day, h, mi, s, frac, zone = m.groups()
    value = datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(
        hour=int(h), minute=int(mi), second=int(s), microsecond=int((frac or "0").ljust(6, "0")[:6]), tzinfo=UTC
    )
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value.replace(tzinfo=None)


def typed(text: str | None, kind: str, nulls: tuple[str, ...]) -> Any:
    """One CSV field as the value the contract says it holds."""
    if text is None or text in nulls:
        return None
    if kind == "string":
        return text
    if kind == "integer":
        return int(text)
    if kind == "number":
        return float(text)
    if kind == "boolean":
        lower = text.lower()
        if lower not in _TRUE | _FALSE:
            raise ValueError(f"not a boolean: {text!r}")
        return lower in _TRUE
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "timestamp":
        return timestamp(text)
    raise ValueError(kind)


def stored_rows(body: bytes, contract: Contract) -> list[dict[str, Any]]:
    """Every record of a CSV file (header first) as typed values; the last row of a primary key wins."""
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    header = next(reader)
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in reader:
        if not record:
            continue  # csv yields [] for a blank line; the pipeline skips blank lines too
        fields = dict(zip(header, record, strict=True))
        row = {c.name: typed(fields.get(c.name), c.kind, contract.null_values) for c in contract.columns}
        by_key.pop(key := tuple(row[k] for k in contract.primary_key), None)
        by_key[key] = row
    return list(by_key.values())
