"""Write valid rows to the records table: one item per dataset and primary key, in parallel batches.

Items are built as DynamoDB wire JSON column by column (`pipeline.runtime.sinks.item_json`) and sent as
pre-built `BatchWriteItem` bodies: boto3 still signs, sends, retries and parses each call, but does not
validate and serialise 25 nested dicts per call, which cost more CPU than everything else on a page.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.runtime import aws
from pipeline.runtime.contract import Contract
from pipeline.runtime.errors import TransientError
from pipeline.runtime.sinks import item_json

BATCH = 25
KEY_SEPARATOR = "#"
_KEY_ESCAPES = (("\\", "\\\\"), (KEY_SEPARATOR, "\\" + KEY_SEPARATOR))
_PLACEHOLDER = [{"PutRequest": {"Item": {"pk": {"S": "-"}}}}]
_prebuilt = threading.local()


class UnprocessedItemsError(TransientError):
    """DynamoDB kept returning unprocessed items after every retry."""


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace(KEY_SEPARATOR, "\\" + KEY_SEPARATOR)


def record_key(dataset: str, values: list[Any]) -> str:
    """The records-table key of a row: dataset and primary-key values joined by '#' ('#' and '\\' escaped)."""
    return KEY_SEPARATOR.join([dataset, *(_escape(v) for v in values)])


def _key_part(values: pa.ChunkedArray, kind: str) -> pa.Array | None:
    """``_escape`` of every key value, vectorised; None when only Python's ``str()`` gets it exactly right."""
    if values.null_count:
        return None
    if kind == "string":
        return item_json.replace_present(values, _KEY_ESCAPES)
    if kind == "integer":
        return pc.cast(values, pa.string())
    if kind in ("date", "timestamp"):
        return item_json.iso_texts(values, kind)
    return None  # numbers and booleans print differently in Arrow and Python


def key_texts(table: pa.Table, contract: Contract) -> pa.Array:
    """The records-table key (`record_key`) of every row of a typed table."""
    parts = [_key_part(table.column(name), contract.column(name).kind) for name in contract.primary_key]
    if all(p is not None for p in parts):
        return pc.binary_join_element_wise(contract.dataset, *parts, KEY_SEPARATOR)
    columns = [_python_values(table.column(name), contract.column(name).kind) for name in contract.primary_key]
    return pa.array([record_key(contract.dataset, list(row)) for row in zip(*columns, strict=True)], pa.string())


def _python_values(values: pa.ChunkedArray, kind: str) -> list[Any]:
    """Key values as the Python objects ``record_key`` was always given (dates and timestamps as ISO text)."""
    if kind in ("date", "timestamp"):
        values = item_json.iso_texts(values, kind)
    return values.to_pylist()


def _last_of_each_key(keys: pa.Array) -> np.ndarray | None:
    """Row indices keeping the last row of each key, in order of each key's first row; None if keys are unique."""
    if pc.count_distinct(keys).as_py() == len(keys):
        return None
    positions = pa.table({"k": keys, "i": pa.array(np.arange(len(keys)))})
    grouped = positions.group_by("k", use_threads=False).aggregate([("i", "min"), ("i", "max")])
    order = np.argsort(grouped.column("i_min").to_numpy())
    return grouped.column("i_max").to_numpy()[order]


def encode_items(table: pa.Table, contract: Contract, job_id: str, lines: Any) -> pa.Array:
    """Wire JSON of the DynamoDB item of every row; the last row wins when a key repeats within the page."""
    if table.num_rows == 0:
        return pa.array([], pa.string())
    keys = key_texts(table, contract)
    line_numbers = pa.array(np.asarray(lines, dtype=np.int64))
    pieces = [
        item_json.attribute("pk", "string", keys),
        item_json.attribute("line", "integer", line_numbers),
        *(item_json.attribute(c.name, c.kind, table.column(c.name)) for c in contract.columns),
    ]
    items = item_json.objects(pieces, item_json.constants({"dataset": contract.dataset, "job_id": job_id}))
    keep = _last_of_each_key(keys)
    if isinstance(items, pa.ChunkedArray):
        items = items.combine_chunks()
    return items if keep is None else items.take(pa.array(keep))


def _item_text(item: dict[str, Any]) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def _request_bodies(table_name: str, items: pa.Array) -> list[str]:
    """One `BatchWriteItem` request body per 25 items."""
    puts = pc.binary_join_element_wise('{"PutRequest":{"Item":', items, "}}", "")
    offsets = pa.array(np.append(np.arange(0, len(items), BATCH), len(items)).astype(np.int32))
    batches = pc.binary_join(pa.ListArray.from_arrays(offsets, puts), ",").to_pylist()
    head = '{"RequestItems":{' + json.dumps(table_name, ensure_ascii=False) + ":["
    return [head + batch + "]}}" for batch in batches]


def _use_prebuilt_body(request: Any, **_: Any) -> None:
    """botocore `before-sign` hook: replace the placeholder body with this thread's pre-built one."""
    body = getattr(_prebuilt, "body", None)
    if body is not None:
        request.data = body


def _dynamodb() -> Any:
    client = aws.client("dynamodb")
    client.meta.events.register(
        "before-sign.dynamodb.BatchWriteItem", _use_prebuilt_body, unique_id="pipeline-prebuilt-batch-write"
    )
    return client


def send_batch(table_name: str, body: str) -> list[str]:
    """One `BatchWriteItem` call with a pre-built body; returns the unprocessed items as wire JSON."""
    _prebuilt.body = body.encode("utf-8")
    try:
        response = _dynamodb().batch_write_item(RequestItems={table_name: _PLACEHOLDER})
    finally:
        _prebuilt.body = None
    return [_item_text(r["PutRequest"]["Item"]) for r in response.get("UnprocessedItems", {}).get(table_name, [])]


def _write_batch(table_name: str, body: str, count: int) -> int:
    for attempt in range(10):
        unprocessed = send_batch(table_name, body)
        if not unprocessed:
            return count
        time.sleep(min(2.0, 0.05 * 2**attempt))
        body = _request_bodies(table_name, pa.array(unprocessed, pa.string()))[0]
    raise UnprocessedItemsError(f"{len(unprocessed)} items still unprocessed by DynamoDB after 10 attempts")


def write_items(table_name: str, items: pa.Array | list[dict[str, Any]], writers: int = 4) -> int:
    """Write ``items`` (wire JSON from ``encode_items``, or item dicts) with ``writers`` threads of 25-item
    `BatchWriteItem` calls, retrying unprocessed items; return the number written."""
    if not isinstance(items, pa.Array):
        items = pa.array([_item_text(item) for item in items], pa.string())
    if not len(items):
        return 0
    bodies = _request_bodies(table_name, items)
    counts = [min(BATCH, len(items) - i * BATCH) for i in range(len(bodies))]
    with ThreadPoolExecutor(max_workers=max(1, min(writers, len(bodies)))) as pool:
        return sum(pool.map(lambda args: _write_batch(table_name, *args), zip(bodies, counts, strict=True)))
