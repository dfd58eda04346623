"""`pipeline bench`: full pipeline throughput, per-stage timings and reference rates, as ratios."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline import aws
from pipeline.cli import ops
from pipeline.cli.target import Cloud
from pipeline.contract import load_contract
from pipeline.jobs import JobStore
from pipeline.process.header import parse_header
from pipeline.process.parse import parse_page
from pipeline.process.records import split_header
from pipeline.process.validate import validate_page
from pipeline.sample import write_orders
from pipeline.store.records import BATCH, build_items

STAGES = ("parse", "validate", "transform", "dynamodb_write", "s3_write")
WRITERS = 4  # DynamoDB writer threads per page processor
PROCESSORS = 4  # MaximumConcurrency of the pages event source mapping


def duckdb_reference(path: Path, out: Path) -> float:
    """Seconds DuckDB takes to read the file and write it as day-partitioned CSV."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT *, strftime(CAST(order_ts AS TIMESTAMP), '%Y-%m-%d') AS dt FROM read_csv('{path}', "
        f"header=true, all_varchar=true)) TO '{out}' (FORMAT csv, PARTITION_BY (dt), OVERWRITE_OR_IGNORE true)"
    )
    con.close()
    return time.perf_counter() - started


def raw_dynamodb_rate(items: list[dict[str, Any]], threads: int) -> float:
    """Items/s of a tight BatchWriteItem loop into a scratch table with ``threads`` writers."""
    ddb = aws.client("dynamodb")
    table = f"bench-raw-{int(time.time())}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda b: ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in b]}), batches
            )
        )
    elapsed = time.perf_counter() - started
    ddb.delete_table(TableName=table)
    return len(items) / elapsed


def local_processing_rate(path: Path) -> dict[str, float]:
    """Rows/s of parse, validate and item building in this process (one core)."""
    body = path.read_bytes()
    contract = load_contract("orders")
    raw, start = split_header(body)
    started = time.perf_counter()
    parsed = parse_page(body[start:], parse_header(raw))
    t_parse = time.perf_counter()
    validated = validate_page(parsed, contract)
    t_validate = time.perf_counter()
    rows = parsed.input_rows
    return {
        "rows": rows,
        "parse_rows_per_s": rows / (t_parse - started),
        "validate_rows_per_s": rows / (t_validate - t_parse),
        "parse_validate_rows_per_s": rows / (t_validate - started),
        "_validated": validated,
    }  # type: ignore[dict-item]


def run(cloud: Cloud, rows: int, workdir: Path, progress: Any) -> dict[str, Any]:
    """Run the whole benchmark and return its results."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"orders-{rows}.csv"
    counts = write_orders(path, rows, seed=42)
    progress(f"generated {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB)")
    outs = ops.deploy(cloud, {}, progress) | ({"Endpoint": cloud.local.endpoint} if cloud.local else {})
    key = f"orders/bench-{int(time.time())}/{path.name}"
    started = time.perf_counter()
    upload = ops.ingest(path, "orders", outs, key)
    uploaded = time.perf_counter()
    job = ops.wait_for(outs, [upload], lambda jobs: None, timeout=7200)[0]
    finished = time.perf_counter()
    from pipeline.query import run_query

    q_started = time.perf_counter()
    run_query(
        "SELECT count(*) AS n FROM orders",
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
    )
    query_s = time.perf_counter() - q_started
    pages = JobStore(outs["JobsTable"]).pages(job["job_id"])
    stage_ms = {s: sum(int((p.get("timings_ms") or {}).get(s, 0)) for p in pages) for s in STAGES}
    end_to_end = finished - started
    local = local_processing_rate(path)
    validated = local.pop("_validated")
    sample_n = min(rows, 100_000)
    items = build_items(
        validated.table.slice(0, sample_n), load_contract("orders"), "bench", validated.lines[:sample_n].tolist()
    )
    ddb_rate = raw_dynamodb_rate(items, WRITERS * PROCESSORS)
    duck_s = duckdb_reference(path, workdir / "duckdb-out")
    pipeline_rate = rows / end_to_end
    result = {
        "rows": rows,
        "valid": counts["valid"],
        "job_status": job.get("status"),
        "pages": job.get("pages_total"),
        "upload_s": round(uploaded - started, 2),
        "end_to_end_s": round(end_to_end, 2),
        "pipeline_rows_per_s": round(pipeline_rate),
        "query_s": round(query_s, 2),
        "stage_seconds_summed_over_pages": {k: round(v / 1000, 2) for k, v in stage_ms.items()},
        "local_single_core": {k: round(v) for k, v in local.items()},
        "reference_dynamodb_batchwrite_items_per_s": round(ddb_rate),
        "reference_duckdb_read_partitioned_write_s": round(duck_s, 2),
        "ratio_pipeline_to_dynamodb_floor": round(pipeline_rate / ddb_rate, 3),
    }
    (workdir / "bench.json").write_text(json.dumps(result, indent=2))
    return result
