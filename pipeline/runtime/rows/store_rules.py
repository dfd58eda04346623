"""Rules that come from where valid rows are stored: one row per primary key, and DynamoDB's limits on an
item's size, its key's length and its numbers' range.

Applied after contract validation and before any write, so that DynamoDB, the S3 output and reconcile hold
the same rows and no `BatchWriteItem` of a page can be refused half-way.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.runtime.contract import Contract
from pipeline.runtime.rows.parse import ParsedPage, Reject
from pipeline.runtime.rows.validate import ValidatedPage
from pipeline.runtime.sinks.dynamodb import key_texts

DYNAMODB_ITEM_LIMIT = 400 * 1024
DYNAMODB_KEY_LIMIT = 2048  # bytes (UTF-8) of a partition key value; the records table has no sort key
DYNAMODB_NUMBER_MAX = 1e126  # magnitudes from 1E-130 to 9.99...E+125 (38 digits; a double has 17)
DYNAMODB_NUMBER_MIN = 1e-130
ITEM_OVERHEAD = 1024  # pk, dataset, job_id and line attributes, with room to spare
FIXED_SIZE = {"integer": 21, "number": 21, "boolean": 1, "date": 10, "timestamp": 27}
KEY_TEXT_SIZE = {"integer": 20, "number": 24, "boolean": 5, "date": 10, "timestamp": 27}  # at most, as key text
SHOWN_KEY = 80  # characters of a key value quoted in a reason


def apply_store_rules(page: ValidatedPage, parsed: ParsedPage, contract: Contract) -> ValidatedPage:
    """Move the valid rows that cannot be stored as they are into the rejects, with the reason."""
    reasons: dict[int, list[str]] = {}
    if contract.store_in_dynamodb:
        _too_large_for_dynamodb(page, contract, reasons)
        _key_too_long_for_dynamodb(page, contract, reasons)
        _numbers_out_of_dynamodb_range(page, contract, reasons)
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


def _key_too_long_for_dynamodb(page: ValidatedPage, contract: Contract, reasons: dict[int, list[str]]) -> None:
    """Rows whose item key (`<dataset>#<value>[#...]`, escapes included) is over DynamoDB's 2,048 bytes.

    The exact keys are built only for rows whose bound (every key byte escaped) is over the limit.
    """
    table = page.table
    if table.num_rows == 0:
        return
    fixed = len(contract.dataset.encode()) + len(contract.primary_key)
    lengths: dict[str, pa.Array] = {}
    for name in contract.primary_key:
        kind = contract.column(name).kind
        if kind == "string":
            lengths[name] = pc.fill_null(pc.binary_length(table.column(name)), 0)
        else:
            fixed += KEY_TEXT_SIZE[kind]
    if fixed + sum(2 * (pc.max(n).as_py() or 0) for n in lengths.values()) <= DYNAMODB_KEY_LIMIT:
        return  # the usual case: even the longest values, every byte escaped, fit
    bound = np.full(table.num_rows, fixed, dtype=np.int64)
    for n in lengths.values():
        bound += 2 * np.asarray(n.to_numpy(zero_copy_only=False), dtype=np.int64)
    candidates = np.flatnonzero(bound > DYNAMODB_KEY_LIMIT)
    if candidates.size == 0:
        return
    sizes = pc.binary_length(key_texts(table.take(pa.array(candidates)), contract)).to_numpy(zero_copy_only=False)
    label = ", ".join(contract.primary_key)
    for row, size in zip(candidates.tolist(), sizes.tolist(), strict=True):
        if size > DYNAMODB_KEY_LIMIT:
            reasons.setdefault(row, []).append(
                f"{label}: primary key too long for DynamoDB: the item key is {size:,} bytes (UTF-8), "
                f"the limit is {DYNAMODB_KEY_LIMIT:,}"
            )


def _numbers_out_of_dynamodb_range(page: ValidatedPage, contract: Contract, reasons: dict[int, list[str]]) -> None:
    """Rows with a number DynamoDB cannot store: a double of magnitude 1E+126 and more, or below 1E-130."""
    for column in contract.columns:
        if column.kind != "number" or page.table.num_rows == 0:
            continue
        magnitude = pc.abs(page.table.column(column.name))
        bounds = pc.min_max(magnitude)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        if low is None or (low >= DYNAMODB_NUMBER_MIN and high < DYNAMODB_NUMBER_MAX):
            continue  # every value fits (a zero makes the masks below decide)
        outside = pc.or_(
            pc.greater_equal(magnitude, DYNAMODB_NUMBER_MAX),
            pc.and_(pc.less(magnitude, DYNAMODB_NUMBER_MIN), pc.not_equal(magnitude, 0.0)),
        )
        mask = np.asarray(pc.fill_null(outside, False).to_numpy(zero_copy_only=False), dtype=bool)
        for row in np.flatnonzero(mask).tolist():
            reasons.setdefault(row, []).append(
                f"{column.name}: number out of DynamoDB's range (magnitudes 1E-130 to 9.99E+125, or 0)"
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
