"""The references a run is measured against: DynamoDB's raw write rate, DuckDB, and the pipeline's own code
in this process (one core, no cloud)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.runtime.contract import Contract, load_contract
from pipeline.runtime.rows.header import parse_header
from pipeline.runtime.rows.parse import parse_page
from pipeline.runtime.rows.records import scan_records, split_header
from pipeline.runtime.rows.store_rules import apply_store_rules
from pipeline.runtime.rows.validate import validate_page
from pipeline.runtime.sinks.dynamodb import _request_bodies, encode_items, send_batch
from pipeline.runtime.sinks.results import partition_files
from pipeline.tools.bench.cloud import scratch_table

PAGE_ROWS = 50_000


def duckdb_reference(path: Path, out: Path) -> dict[str, float]:
    """DuckDB reading the file and writing it as day-partitioned CSV on local disk (all cores)."""
    import duckdb

    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT *, strftime(CAST(order_ts AS TIMESTAMP), '%Y-%m-%d') AS dt FROM read_csv('{path}', "
        f"header=true, all_varchar=true)) TO '{out}' (FORMAT csv, PARTITION_BY (dt), OVERWRITE_OR_IGNORE true)"
    )
    con.close()
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": round(seconds, 3)}


def dynamodb_floor(items: pa.Array, threads: int) -> dict[str, float]:
    """Items/s of a tight `BatchWriteItem` loop (pre-built bodies, ``threads`` writers) into a scratch table:
    what the local cloud's DynamoDB accepts at most, the floor for anything that writes every row."""
    with scratch_table("bench-floor") as table:
        bodies = _request_bodies(table, items)
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            unprocessed = sum(len(u) for u in pool.map(lambda body: send_batch(table, body), bodies))
        elapsed = time.perf_counter() - started
    written = len(items) - unprocessed
    return {"items": written, "threads": threads, "seconds": round(elapsed, 3), "items_per_s": round(written / elapsed)}


def s3_put_floor(object_bytes: int, objects: int, threads: int) -> dict[str, float]:
    """Objects/s of a tight `PutObject` loop (``objects`` bodies of ``object_bytes``, ``threads`` writers) into
    a scratch bucket: what the local cloud's S3 accepts at most, the floor for a path that writes its rows as
    objects of that size. The bucket is emptied and deleted afterwards."""
    from pipeline.runtime import aws

    s3 = aws.client("s3")
    bucket = f"bench-put-floor-{int(time.time())}"
    s3.create_bucket(Bucket=bucket)
    body = b"x" * max(1, object_bytes)
    keys = [f"floor/{n:06d}.csv" for n in range(objects)]
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body), keys))
        elapsed = time.perf_counter() - started
    finally:
        for first in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[first : first + 1000]]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    return {
        "objects": objects,
        "object_bytes": object_bytes,
        "threads": threads,
        "seconds": round(elapsed, 3),
        "objects_per_s": round(objects / elapsed, 1),
        "mb_per_s": round(objects * object_bytes / elapsed / 1e6, 1),
    }


def pages(path: Path, rows: int = PAGE_ROWS) -> Iterator[tuple[bytes, list[str], int]]:
    """The file cut into pages of ``rows`` records (body, header, first line), as the pager cuts it."""
    body = path.read_bytes()
    raw, start = split_header(body)
    header = parse_header(raw)
    index = scan_records(body[start:], first_line=2)
    for first in range(0, len(index), rows):
        last = min(first + rows, len(index)) - 1
        chunk = body[start + int(index.starts[first]) : start + int(index.ends[last])]
        yield chunk, header, int(index.lines[first])


def in_process(path: Path, out: Path, contract: Contract | None = None) -> dict[str, Any]:
    """The page code on the whole file in this process, page by page, no cloud: CPU rows/s of parse, validate,
    transform (DynamoDB items) and S3 rendering, and the wall seconds of the S3 output path (parse, validate,
    render, write the partitioned files to local disk): the pipeline's side of the DuckDB comparison."""
    contract = contract or load_contract("orders")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    spent = dict.fromkeys(("parse", "validate", "transform", "s3_render"), 0.0)
    s3_path_wall, rows = 0.0, 0
    for body, header, first_line in pages(path):  # warm up once, as a warm Lambda worker is
        parsed = parse_page(body, header, first_line=first_line)
        validated = apply_store_rules(validate_page(parsed, contract), parsed, contract)
        encode_items(validated.table, contract, "bench", validated.lines)
        partition_files(validated.table, contract, "bench", 0)
        break
    for number, (body, header, first_line) in enumerate(pages(path)):
        wall, t0 = time.perf_counter(), time.process_time()
        parsed = parse_page(body, header, first_line=first_line)
        t1 = time.process_time()
        validated = apply_store_rules(validate_page(parsed, contract), parsed, contract)
        t2 = time.process_time()
        wall_validated = time.perf_counter()
        encode_items(validated.table, contract, "bench", validated.lines)
        t3, wall_encoded = time.process_time(), time.perf_counter()
        files = partition_files(validated.table, contract, "bench", number)
        spent["s3_render"] += time.process_time() - t3
        for key, (data, _) in files.items():
            target = out / key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        s3_path_wall += (wall_validated - wall) + (time.perf_counter() - wall_encoded)
        spent["parse"] += t1 - t0
        spent["validate"] += t2 - t1
        spent["transform"] += t3 - t2
        rows += parsed.input_rows
    shutil.rmtree(out, ignore_errors=True)
    core = spent["parse"] + spent["validate"] + spent["transform"]
    return {
        "rows": rows,
        "cpu_s": {k: round(v, 3) for k, v in spent.items()},
        "parse_rows_per_s": round(rows / spent["parse"]),
        "validate_rows_per_s": round(rows / spent["validate"]),
        "transform_rows_per_s": round(rows / spent["transform"]),
        "parse_validate_rows_per_s": round(rows / (spent["parse"] + spent["validate"])),
        "parse_validate_transform_rows_per_s": round(rows / core),
        "s3_render_rows_per_s": round(rows / spent["s3_render"]),
        "s3_path_wall_s": round(s3_path_wall, 3),
    }
