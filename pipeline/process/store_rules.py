"""Rules that come from where valid rows are stored: one row per primary key, DynamoDB's item size limit.

Applied after contract validation, so that DynamoDB, the S3 output and reconcile hold the same rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.contract import Contract
from pipeline.process.parse import ParsedPage, Reject
from pipeline.process.validate import ValidatedPage

DYNAMODB_ITEM_LIMIT = 400 * 1024
ITEM_OVERHEAD = 1024  # pk, dataset, job_id and line attributes, with room to spare
FIXED_SIZE = {"integer": 21, "number": 21, "boolean": 1, "date": 10, "timestamp": 27}
SHOWN_KEY = 80  # characters of a key value quoted in a reason


def apply_store_rules(page: ValidatedPage, parsed: ParsedPage, contract: Contract) -> ValidatedPage:
    """Move the valid rows that cannot be stored as they are into the rejects, with the reason."""
    reasons: dict[int, list[str]] = {}
    if contract.store_in_dynamodb:
        _too_large_for_dynamodb(page, contract, reasons)
    _superseded_duplicates(page, contract, reasons)
    return reject_rows(page, parsed, reasons) if reasons else page


def _too_large_for_dynamodb(page: ValidatedPage, contract: Contract, reasons: dict[int, list[str]]) -> None:
    """Rows whose DynamoDB item would exceed 400 KB (possible only with long strings), estimated from above."""
    strings = [c for c in contract.columns if c.kind == "string"]
    fixed = ITEM_OVERHEAD + sum(len(c.name.encode()) + FIXED_SIZE.get(c.kind, 0) for c in contract.columns)
    if not strings or page.table.num_rows == 0:
        return
    size = np.full(page.table.num_rows, fixed, dtype=np.int64)
    for column in strings:
        copies = 2 if column.name in contract.primary_key else 1  # key values are also in the `pk` attribute
        lengths = pc.fill_null(pc.binary_length(page.table.column(column.name)), 0)
        size += copies * np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)
    for row in np.flatnonzero(size > DYNAMODB_ITEM_LIMIT).tolist():
        reasons.setdefault(row, []).append(
            f"row too large for DynamoDB: about {int(size[row]):,} bytes, the item limit is {DYNAMODB_ITEM_LIMIT:,}"
        )


def _superseded_duplicates(page: ValidatedPage, contract: Contract, reasons: dict[int, list[str]]) -> None:
    """Within a page the last valid row of a primary key wins; every earlier one is rejected, naming its successor."""
    table = page.table
    names = list(contract.primary_key)
    if table.num_rows < 2:
        return
    stored = np.ones(table.num_rows, dtype=bool)
    stored[list(reasons)] = False  # rows already too large do not take part
    keys = table.select(names).append_column("__row", pa.array(np.arange(table.num_rows))).filter(pa.array(stored))
    winners = keys.group_by(names).aggregate([("__row", "max")])
    if winners.num_rows == keys.num_rows:
        return
    joined = keys.join(winners, names, join_type="inner")
    rows = np.asarray(joined.column("__row").to_numpy(), dtype=np.int64)
    last = np.asarray(joined.column("__row_max").to_numpy(), dtype=np.int64)
    label = ", ".join(names)
    for row, winner in zip(rows[rows != last].tolist(), last[rows != last].tolist(), strict=True):
        value = ", ".join(str(table.column(n)[row].as_py()) for n in names)
        shown = value if len(value) <= SHOWN_KEY else value[:SHOWN_KEY] + "..."
        reasons.setdefault(row, []).append(
            f"{label}: duplicate primary key {shown}, superseded by line {int(page.lines[winner])}"
        )


def reject_rows(page: ValidatedPage, parsed: ParsedPage, reasons: dict[int, list[str]]) -> ValidatedPage:
    """``page`` without the valid rows in ``reasons`` (by row index), which join the rejects with their text."""
    rows = sorted(reasons)
    source = np.searchsorted(parsed.lines, page.lines[rows])  # line numbers are unique and ascending
    moved = [
        Reject(int(page.lines[row]), reasons[row], parsed.raw_text(int(i)))
        for row, i in zip(rows, source.tolist(), strict=True)
    ]
    keep = np.ones(page.table.num_rows, dtype=bool)
    keep[rows] = False
    return ValidatedPage(
        table=page.table.filter(pa.array(keep)),
        lines=page.lines[keep],
        rejects=sorted([*page.rejects, *moved], key=lambda r: r.line),
        input_rows=page.input_rows,
    )
