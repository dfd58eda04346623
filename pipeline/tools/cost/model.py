"""Turn what a benchmark run measured (requests, invocations, durations, items) into an estimated AWS bill.

Every quantity is measured on the local cloud for the bench file and scaled linearly to the rows asked for.
The floor is what writing every valid row to DynamoDB costs; everything else is the pipeline's overhead.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.tools.cost.prices import PRICES, PRICES_DATE, REGION

TARGET_RATIO = 1.2
DYNAMODB_WRITES = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1, "TransactWriteItems": 4, "BatchWriteItem": 25}
DYNAMODB_READS = {"GetItem": 1, "Query": 1, "Scan": 1, "BatchGetItem": 25, "TransactGetItems": 4}
S3_GETS = ("GetObject", "HeadObject", "SelectObjectContent")
SQS_PER_PAGE = 3  # SNS delivers it (send), the event source mapping receives it and deletes it
SQS_PER_UPLOAD = 2 * SQS_PER_PAGE  # the same in the uploads queue and in the inventory queue


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item (AttributeValue map): names plus values, numbers by significant digits."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), *_ = value.items()
        if kind == "S":
            size += len(raw.encode())
        elif kind == "N":
            digits = raw.lstrip("-+").split("e")[0].split("E")[0].replace(".", "").strip("0")
            size += 1 + (len(digits) + 1) // 2
        elif kind in ("BOOL", "NULL"):
            size += 1
        else:
            size += len(str(raw).encode())
    return size


def write_units(item: dict[str, Any]) -> int:
    """Write request units of one standard put (1 KB each, rounded up)."""
    return max(1, math.ceil(item_bytes(item) / 1024))


def _line(item: str, quantity: float, unit: str, price_key: str, note: str = "") -> dict[str, Any]:
    return {
        "item": item,
        "quantity": quantity,
        "unit": unit,
        "unit_usd": PRICES[price_key],
        "usd": quantity * PRICES[price_key],
        "note": note,
    }


def _dynamodb_bookkeeping(tables: dict[str, dict[str, int]], records_table: str) -> tuple[float, float]:
    """Write and read units of every DynamoDB call but the records writes (jobs, pages, counters)."""
    writes = reads = 0.0
    for table, operations in tables.items():
        for operation, count in operations.items():
            if table == records_table and operation == "BatchWriteItem":
                continue  # the floor, costed from the items written
            writes += DYNAMODB_WRITES.get(operation, 0) * count
            reads += DYNAMODB_READS.get(operation, 0) * count
    return writes, reads


def _lines(bench: dict[str, Any], rows: int) -> list[dict[str, Any]]:
    run = bench["pipeline"]
    scale = rows / bench["rows"]
    ops: dict[str, int] = run["requests"]["by_operation"]
    count = lambda *names: sum(ops.get(n, 0) for n in names)  # noqa: E731
    floor_units = run["items_written"] * run["write_units_per_item"] * scale
    book_writes, book_reads = _dynamodb_bookkeeping(run["requests"].get("dynamodb_tables", {}), run["records_table"])
    gb_seconds = sum(f["duration_s"] * f["memory_mb"] / 1024 for f in run["lambda"].values())
    invocations = sum(f["invocations"] for f in run["lambda"].values())
    integrations = run["stepfunctions"].get("integrations", {})
    sns = count("sns.Publish", "sns.PublishBatch") + integrations.get("sns:publish", 0) + run["uploads"]
    sqs = (
        run["pages"] * SQS_PER_PAGE
        + run["uploads"] * SQS_PER_UPLOAD
        + sum(v for k, v in ops.items() if k.startswith("sqs."))
    )
    s3_get = count(*(f"s3.{op}" for op in S3_GETS))
    s3_put = sum(v for k, v in ops.items() if k.startswith("s3.")) - s3_get + run["uploads"]
    scanned = max(run["athena"]["bytes_scanned"] * scale, PRICES["athena_min_bytes_per_query"])
    lines = [
        _line(
            "DynamoDB writes of the rows (floor)",
            floor_units,
            "write units",
            "dynamodb_write_unit",
            f"{run['write_units_per_item']:.2f} units per item",
        ),
        _line("DynamoDB job bookkeeping writes", book_writes * scale, "write units", "dynamodb_write_unit"),
        _line("DynamoDB job bookkeeping reads", book_reads * scale, "read units", "dynamodb_read_unit"),
        _line(
            "Lambda duration",
            gb_seconds * scale,
            "GB-seconds",
            "lambda_gb_second",
            "durations measured on the local cloud",
        ),
        _line("Lambda requests", invocations * scale, "invocations", "lambda_request"),
        _line(
            "Step Functions",
            run["stepfunctions"]["state_transitions"] * scale,
            "state transitions",
            "sfn_state_transition",
        ),
        _line("SNS publishes", sns * scale, "requests", "sns_request"),
        _line(
            "SQS",
            sqs * scale,
            "requests",
            "sqs_request",
            f"{SQS_PER_PAGE} per page message, {SQS_PER_UPLOAD} per upload",
        ),
        _line("S3 PUT/LIST", s3_put * scale, "requests", "s3_put_request"),
        _line("S3 GET", s3_get * scale, "requests", "s3_get_request"),
        _line(
            "Glue Data Catalog", count(*(k for k in ops if k.startswith("glue."))) * scale, "requests", "glue_request"
        ),
        _line("Athena count(*)", scanned, "bytes scanned", "athena_byte_scanned", "10 MB minimum per query"),
    ]
    return lines


def estimate(bench: dict[str, Any], rows: int) -> dict[str, Any]:
    """The estimated bill of one file of ``rows`` rows, from a `bench.json` (see pipeline.tools.bench.run)."""
    lines = _lines(bench, rows)
    total = sum(line["usd"] for line in lines)
    floor = lines[0]["usd"]
    million = _lines(bench, 1_000_000)
    return {
        "rows": rows,
        "region": REGION,
        "prices_date": PRICES_DATE,
        "lines": lines,
        "total_usd": total,
        "floor_usd": floor,
        "overhead_usd": total - floor,
        "ratio_to_floor": total / floor if floor else None,
        "target_ratio": TARGET_RATIO,
        "per_million_rows_usd": sum(line["usd"] for line in million),
        "floor_per_million_rows_usd": million[0]["usd"],
        "measured_rows": bench["rows"],
    }
