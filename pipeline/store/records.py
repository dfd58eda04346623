"""Write valid rows to the records table: one item per dataset and primary key, in parallel batches."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import aws
from pipeline.contract import Contract
from pipeline.errors import TransientError

BATCH = 25
KEY_SEPARATOR = "#"


class UnprocessedItemsError(TransientError):
    """DynamoDB kept returning unprocessed items after every retry."""


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace(KEY_SEPARATOR, "\\" + KEY_SEPARATOR)


def record_key(dataset: str, values: list[Any]) -> str:
    """The records-table key of a row: dataset and primary-key values joined by '#' ('#' and '\\' escaped)."""
    return KEY_SEPARATOR.join([dataset, *(_escape(v) for v in values)])


def _attribute(kind: str, value: Any) -> dict[str, Any]:
    if kind == "string":
        return {"S": value}
    if kind == "boolean":
        return {"BOOL": value}
    if kind in ("integer",):
        return {"N": str(value)}
    if kind == "number":
        return {"N": repr(value)}
    return {"S": value}


def _text_columns(table: pa.Table, contract: Contract) -> dict[str, list[Any]]:
    """Column values as Python objects ready for AttributeValues (dates and timestamps as ISO text)."""
    out: dict[str, list[Any]] = {}
    for column in contract.columns:
        values = table.column(column.name)
        if column.kind == "timestamp":
            values = pc.strftime(values, "%Y-%m-%dT%H:%M:%SZ")
        elif column.kind == "date":
            values = pc.strftime(values, "%Y-%m-%d")
        out[column.name] = values.to_pylist()
    return out


def build_items(table: pa.Table, contract: Contract, job_id: str, lines: list[int]) -> list[dict[str, Any]]:
    """Low-level DynamoDB items for every row; the last row wins when a key repeats within the page."""
    columns = _text_columns(table, contract)
    kinds = [(c.name, c.kind) for c in contract.columns]
    key_columns = [columns[name] for name in contract.primary_key]
    items: dict[str, dict[str, Any]] = {}
    dataset = contract.dataset
    for i in range(table.num_rows):
        pk = record_key(dataset, [col[i] for col in key_columns])
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "dataset": {"S": dataset},
            "job_id": {"S": job_id},
            "line": {"N": str(lines[i])},
        }
        for name, kind in kinds:
            value = columns[name][i]
            if value is not None:
                item[name] = _attribute(kind, value)
        items[pk] = item
    return list(items.values())


def _write_batch(table_name: str, batch: list[dict[str, Any]]) -> int:
    client = aws.client("dynamodb")
    requests = [{"PutRequest": {"Item": item}} for item in batch]
    for attempt in range(10):
        response = client.batch_write_item(RequestItems={table_name: requests})
        requests = response.get("UnprocessedItems", {}).get(table_name, [])
        if not requests:
            return len(batch)
        time.sleep(min(2.0, 0.05 * 2**attempt))
    raise UnprocessedItemsError(f"{len(requests)} items still unprocessed by DynamoDB after 10 attempts")


def write_items(table_name: str, items: list[dict[str, Any]], writers: int = 4) -> int:
    """Write ``items`` with ``writers`` threads of 25-item BatchWriteItem calls; return the number written."""
    if not items:
        return 0
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    with ThreadPoolExecutor(max_workers=max(1, min(writers, math.ceil(len(batches))))) as pool:
        return sum(pool.map(lambda b: _write_batch(table_name, b), batches))
