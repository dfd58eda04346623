"""Generate realistic `orders` CSV files: mostly valid rows, a known share of rule-breaking ones."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

HEADER = [
    "order_id",
    "customer_id",
    "order_ts",
    "ship_date",
    "status",
    "amount",
    "currency",
    "quantity",
    "is_gift",
    "note",
]
STATUSES = np.array(["NEW", "PAID", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED"])
CURRENCIES = np.array(["EUR", "USD", "GBP"])
NOTES = np.array(
    [
        "",
        "",
        "",
        "",
        "leave at the door",
        "gift wrap, please",
        'call "before" delivery',
        "fragile\nhandle with care",
        "NA",
        "Ünïcödé façade ✓",
    ]
)
BAD_KINDS = ("status", "amount", "date", "customer", "order_id")


def _bad_value(kind: str, rng: np.random.Generator) -> tuple[int, str]:
    """A column index and a value that breaks one rule of the contract."""
    match kind:
        case "status":
            return 4, "LOST"
        case "amount":
            return 5, f"-{rng.integers(1, 100)}.00"
        case "date":
            return 3, "2024-02-30"
        case "customer":
            return 1, "abc"
        case _:
            return 0, "ORD-12"


def write_orders(
    path: Path | io.TextIOBase,
    rows: int,
    *,
    seed: int = 7,
    bad_fraction: float = 0.01,
    start_id: int = 1,
    days: int = 30,
    start: datetime | None = None,
) -> dict[str, int]:
    """Write ``rows`` order lines with a header; return counts of valid and invalid rows written."""
    rng = np.random.default_rng(seed)
    origin = start or datetime(2024, 3, 1, tzinfo=UTC)
    offsets = rng.integers(0, days * 86_400, rows)
    customer = rng.integers(1, 250_000, rows)
    status = STATUSES[rng.integers(0, STATUSES.size, rows)]
    amount = np.round(rng.gamma(2.0, 40.0, rows), 2)
    currency = CURRENCIES[rng.integers(0, CURRENCIES.size, rows)]
    quantity = rng.integers(1, 20, rows)
    gift = rng.integers(0, 3, rows)
    note = NOTES[rng.integers(0, NOTES.size, rows)]
    ship_lag = rng.integers(0, 6, rows)
    bad = rng.random(rows) < bad_fraction
    bad_kind = rng.integers(0, len(BAD_KINDS), rows)

    handle = path.open("w", encoding="utf-8", newline="") if isinstance(path, Path) else path
    try:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(rows):
            ts = origin + timedelta(seconds=int(offsets[i]))
            row = [
                f"ORD-{start_id + i:08d}",
                str(customer[i]),
                ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                (ts + timedelta(days=int(ship_lag[i]))).strftime("%Y-%m-%d") if status[i] != "NEW" else "",
                status[i],
                f"{amount[i]:.2f}",
                currency[i],
                str(quantity[i]),
                ("true", "false", "")[gift[i]],
                note[i],
            ]
            if bad[i]:
                col, value = _bad_value(BAD_KINDS[bad_kind[i]], rng)
                row[col] = value
            writer.writerow(row)
    finally:
        if isinstance(path, Path):
            handle.close()
    invalid = int(bad.sum())
    return {"rows": rows, "valid": rows - invalid, "invalid": invalid}
