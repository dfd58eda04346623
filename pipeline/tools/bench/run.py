"""`pipeline bench`: the whole pipeline on a private local cloud, measured against its limits and its peer
in the same run: DynamoDB's raw write rate, DuckDB, and awswrangler."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipeline.runtime import aws
from pipeline.runtime.config import Settings
from pipeline.runtime.contract import load_contract
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.sinks.dynamodb import encode_items
from pipeline.tools.bench import observe, references
from pipeline.tools.bench.cloud import private_cloud
from pipeline.tools.bench.imports import cold_starts
from pipeline.tools.bench.report import evaluate, markdown, write_chart
from pipeline.tools.cli import ops
from pipeline.tools.cost.model import estimate, item_bytes, write_units
from pipeline.tools.deploy.cfn_yaml import load_template
from pipeline.tools.sample import write_orders

Progress = Callable[[str], None]
STAGES = ("parse", "validate", "transform", "dynamodb_write", "s3_write")
ROOT = Path(__file__).resolve().parents[3]
SEED = 42


def default_page_rows(rows: int) -> int:
    """The template's 50,000 rows a page, smaller for small files so that at least four pages run in parallel."""
    return min(50_000, max(1_000, math.ceil(rows / 4)))


def _processors() -> int:
    """Page processors running at once: the pages event source mapping's MaximumConcurrency."""
    template = load_template(ROOT / "cloudformation" / "template.yaml")
    source = template["Resources"]["PageWorkerEventSource"]["Properties"]
    return int(source.get("ScalingConfig", {}).get("MaximumConcurrency", 4))


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "ministack": metadata.version("ministack"),
        "pyarrow": metadata.version("pyarrow"),
        "load_average": " ".join(f"{n:.1f}" for n in os.getloadavg()),
    }


def _athena_reported_bytes(query_id: str) -> int | None:
    """What the local cloud says the query scanned (AWS scans every byte of text files for a count(*))."""
    try:
        stats = aws.client("athena").get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
        return int(stats.get("Statistics", {}).get("DataScannedInBytes") or 0)
    except Exception:
        return None


def _pipeline_run(bench: Any, path: Path, progress: Progress) -> dict[str, Any]:
    """Upload the file, wait for its job, query it; collect timings, requests, invocations and memory."""
    from pipeline.tools.query import run_query

    outs = bench.outputs
    key = f"orders/bench/{path.name}"
    with observe.WorkerMemory(bench.local.pid()) as memory:
        started = time.perf_counter()
        upload = ops.ingest(path, "orders", outs, key)
        uploaded = time.perf_counter()
        job = ops.wait_for(outs, [upload], lambda jobs: None, timeout=7200)[0]
        finished = time.perf_counter()
    progress(f"job {job.get('status')} in {finished - started:.1f}s, {job.get('pages_total')} pages")
    q_started = time.perf_counter()
    result = run_query(
        "SELECT count(*) AS n FROM orders",
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
    )
    query_s = time.perf_counter() - q_started
    pages = JobStore(outs["JobsTable"]).pages(job["job_id"])
    stage_ms = {s: sum(int((p.get("timings_ms") or {}).get(s, 0)) for p in pages) for s in STAGES}
    stack = bench.cloud.stack_name
    lambdas = observe.lambda_invocations(stack)
    for name, peak in memory.peak_mb.items():
        lambdas.setdefault(name.removeprefix(f"{stack}-"), {})["peak_rss_mb"] = round(peak)
    output = observe.bucket_bytes(outs["ResultsBucket"], "orders/")
    end_to_end = finished - started
    return {
        "job_status": job.get("status"),
        "job_id": job["job_id"],
        "pages": int(job.get("pages_total") or len(pages)),
        "rows_input": int(job.get("rows_input") or 0),
        "items_written": int(job.get("rows_valid") or 0),
        "upload_s": round(uploaded - started, 2),
        "end_to_end_s": round(end_to_end, 2),
        "rows_per_s": round(int(job.get("rows_input") or 0) / end_to_end),
        "stages_s": {
            "paging": lambdas.get("pager", {}).get("duration_s", 0.0),
            **{k: round(v / 1000, 2) for k, v in stage_ms.items()},
            "query": round(query_s, 2),
        },
        "athena_rows": int(result.rows[0][0]) if result.rows else None,
        "athena": {
            "bytes_scanned": output["bytes"],  # a count(*) over text files reads them whole on AWS
            "reported_by_local_cloud": _athena_reported_bytes(result.query_id),
            "queries": 1,
        },
        "output": output,
        "lambda": lambdas,
        "requests": observe.request_counts(bench.call_log),
        "stepfunctions": observe.state_machine_activity(outs["StateMachineArn"]),
        "records_table": outs["RecordsTable"],
        "uploads": 1,
    }


def _floor_items(path: Path, limit: int) -> Any:
    """Wire JSON of the first ``limit`` valid rows' DynamoDB items, as the page processors build them."""
    from pipeline.runtime.rows.parse import parse_page
    from pipeline.runtime.rows.validate import validate_page

    contract = load_contract("orders")
    items, total = [], 0
    for body, header, first_line in references.pages(path):
        validated = validate_page(parse_page(body, header, first_line=first_line), contract)
        items.append(encode_items(validated.table, contract, "bench-floor", validated.lines))
        total += len(items[-1])
        if total >= limit:
            break
    return pa.concat_arrays(items)[:limit]


def run(
    rows: int,
    out: Path,
    progress: Progress,
    *,
    skip_peer: bool = False,
    import_runs: int = 5,
    floor_items: int = 100_000,
    page_rows: int | None = None,
    keep_cloud: bool = False,
) -> dict[str, Any]:
    """Run the whole benchmark, write `bench.json` and `bench.png` into ``out``, and return the results."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"orders-{rows}.csv"
    counts = write_orders(path, rows, seed=SEED)
    progress(f"generated {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB, seed {SEED})")
    progress(f"cold-start imports ({import_runs} fresh processes per handler)")
    imports = cold_starts(import_runs)
    progress("page code in this process (one core, no cloud)")
    in_process = references.in_process(path, out / "in-process-output")
    page_rows = page_rows or default_page_rows(rows)
    parameters = {"InlineMaxBytes": "0", "PageRows": str(page_rows)}
    with private_cloud(out, progress, keep=keep_cloud, parameters=parameters) as bench:
        progress(f"pipeline: {rows:,} rows, {page_rows:,} rows a page")
        pipeline = _pipeline_run(bench, path, progress)
        if not pipeline["requests"]["total"]:
            progress(f"warning: the Lambdas logged no AWS calls to {bench.call_log}: request counts and cost are 0")
        items = _floor_items(path, min(floor_items, counts["valid"]))
        sample = _sample(items)
        pipeline["write_units_per_item"] = round(sum(write_units(i) for i in sample) / max(1, len(sample)), 3)
        pipeline["item_bytes_avg"] = round(sum(item_bytes(i) for i in sample) / max(1, len(sample)))
        threads = Settings().dynamodb_writers * _processors()
        progress(f"DynamoDB floor: {len(items):,} items, {threads} writers")
        floor = references.dynamodb_floor(items, threads)
        peer: dict[str, Any] = {"skipped": "--skip-peer"}
        if not skip_peer:
            from pipeline.tools.bench.peer import run_peer

            progress("peer: awswrangler read_csv -> put_df -> to_csv")
            outs = bench.outputs
            peer = run_peer(
                outs["Endpoint"], outs["IngestBucket"], f"orders/bench/{path.name}", outs["ResultsBucket"], "peer/"
            )
    progress("DuckDB reference")
    duckdb = references.duckdb_reference(path, out / "duckdb-output")
    result: dict[str, Any] = {
        "version": 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "rows": rows,
        "valid": counts["valid"],
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "page_rows": page_rows,
        "pipeline": pipeline,
        "references": {"dynamodb_floor": floor, "duckdb": duckdb, "peer": peer, "in_process": in_process},
        "cold_start": imports,
    }
    cost = estimate(result, rows)
    result["cost"] = {k: v for k, v in cost.items() if k != "lines"} | {"lines": cost["lines"]}
    result["ratios"], result["targets"] = evaluate(result)
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "bench.md").write_text(markdown(result))
    try:
        write_chart(result, out / "bench.png")
    except ImportError:
        progress("matplotlib is not installed: no chart (pip install -e '.[bench]')")
    return result


def _sample(items: Any, n: int = 2_000) -> list[dict[str, Any]]:
    return [json.loads(text) for text in items[:n].to_pylist()]
