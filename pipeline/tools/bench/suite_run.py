"""The suites beyond the default one, run on one private local cloud in their fixed order: small-file latency,
an S3-only dataset end to end, Athena queries over its output, and a stop and start with its state inside."""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.runtime import aws
from pipeline.runtime.contract.loader import SCHEMAS_ENV, source_schemas_dir
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.jobs.model import FINISHED
from pipeline.tools.bench import references
from pipeline.tools.bench.cloud import BenchCloud, private_cloud
from pipeline.tools.bench.raw_trip import ran_at, raw_round_trip
from pipeline.tools.bench.report import markdown
from pipeline.tools.bench.run import default_page_rows, machine, run
from pipeline.tools.bench.suites import (
    DEFAULT,
    QUERY,
    RESTART,
    S3_ONLY,
    SCALE,
    SMALL_FILES,
    RatioRow,
    percentiles,
    ratio_row,
)
from pipeline.tools.cli import ops
from pipeline.tools.sample import write_orders

Progress = Callable[[str], None]
S3_DATASET = "orders_s3"
SINGLES = 5  # 1-row files uploaded one at a time: the small-file reference
SEED = 42


@contextmanager
def s3_only_schemas(workdir: Path) -> Iterator[Path]:
    """A schemas folder holding the repository's schemas plus `orders_s3` (orders with `x-dynamodb: false`),
    set as `PIPELINE_SCHEMAS_DIR` while the stage is packaged and deployed; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-schemas-", dir=workdir))
    previous = os.environ.get(SCHEMAS_ENV)
    try:
        for schema in source_schemas_dir().glob("*.schema.json"):
            shutil.copy(schema, folder / schema.name)
        document = json.loads((folder / "orders.schema.json").read_text())
        document |= {"title": S3_DATASET, "x-dynamodb": False}
        (folder / f"{S3_DATASET}.schema.json").write_text(json.dumps(document, indent=2))
        os.environ[SCHEMAS_ENV] = str(folder)
        yield folder
    finally:
        if previous is None:
            os.environ.pop(SCHEMAS_ENV, None)
        else:
            os.environ[SCHEMAS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _put(outs: dict[str, str], body: bytes, key: str) -> tuple[float, dict[str, str]]:
    """Upload with boto3; return the wall clock before the request and the upload."""
    at = time.time()
    version = aws.client("s3").put_object(Bucket=outs["IngestBucket"], Key=key, Body=body).get("VersionId", "")
    return at, {"bucket": outs["IngestBucket"], "key": key, "version_id": version}


def _wait_all(outs: dict[str, str], uploads: list[dict[str, str]], progress: Progress, stall_s: float = 300) -> list:
    """Every upload's job once all have finished, or as they are when nothing moved for ``stall_s``."""
    store = JobStore(outs["JobsTable"])
    done, moved = -1, time.monotonic()
    while True:
        jobs = {(j.get("key"), j.get("version_id")): j for j in store.jobs()}
        found = [jobs.get((u["key"], u["version_id"])) for u in uploads]
        finished = sum(1 for j in found if j and j.get("status") in FINISHED)
        if finished != done:
            done, moved = finished, time.monotonic()
            progress(f"{finished}/{len(uploads)} jobs finished")
        if finished == len(uploads) or time.monotonic() - moved > stall_s:
            return found
        time.sleep(0.5)


def small_files(bench: BenchCloud, workdir: Path, files: int, progress: Progress) -> dict[str, Any]:
    """``files`` files of 1-1,000 rows uploaded at once (32 threads): seconds from each upload to its job's
    COMPLETE, against a 1-row file uploaded alone (the same path with nothing queued: the local cloud's floor)."""
    outs = bench.outputs
    rng = random.Random(SEED)
    sources = []
    for i in range(files):
        path = workdir / "small-files" / f"small-{i:04d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_orders(path, rng.randint(1, 1_000), seed=1_000 + i, start_id=30_000_000 + i * 1_000)
        sources.append((path.read_bytes(), f"orders/small/{path.name}"))
    single = workdir / "small-files" / "single.csv"
    write_orders(single, 1, seed=7, start_id=39_000_000)
    raw = raw_reference(outs, single.read_bytes(), progress)
    alone = []
    for n in range(SINGLES):  # one at a time, each after the last finished
        at, upload = _put(outs, single.read_bytes(), f"orders/single/single-{n}.csv")
        job = ops.wait_for(outs, [upload], lambda jobs: None, timeout=600)[0]
        alone.append(_epoch(job["finished_at"]) - at if job.get("finished_at") else float("inf"))
    progress(f"1-row file alone: {', '.join(f'{s:.2f}' for s in alone)} s")
    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        puts = list(pool.map(lambda source: _put(outs, *source), sources))
    upload_s = time.perf_counter() - started
    progress(f"uploaded {files} files in {upload_s:.1f}s")
    jobs = _wait_all(outs, [upload for _, upload in puts], progress)
    latencies = [
        _epoch(job["finished_at"]) - at
        for (at, _), job in zip(puts, jobs, strict=True)
        if job and job.get("status") == "COMPLETE" and job.get("finished_at")
    ]
    complete = len(latencies)
    return {
        "files": files,
        "rows": sum(int(j.get("rows_input") or 0) for j in jobs if j),
        "upload_s": round(upload_s, 2),
        "complete": complete,
        "latency_s": percentiles(latencies),
        "single_file_s": percentiles(alone) | {"runs": SINGLES},
        "raw_round_trip_s": raw,
        "job_status": "COMPLETE" if complete == files else f"{complete}/{files} COMPLETE",
    }


def raw_reference(outs: dict[str, str], body: bytes, progress: Progress) -> dict[str, Any]:
    """Seconds from upload to a trivial Lambda's run through S3 -> SNS -> SQS -> Lambda, one file at a time; an
    error instead when this cloud cannot deploy it (the 1-row file alone is then the only reference)."""
    try:
        with raw_round_trip(outs) as function:
            trips = []
            for n in range(SINGLES):
                key = f"bench-raw/raw-{n}.csv"
                at, _ = _put(outs, body, key)
                ran = ran_at(function, key)
                trips.append(ran - at if ran else float("inf"))
    except Exception as error:  # a reference this cloud cannot run is reported, not fatal
        progress(f"raw S3 -> SNS -> SQS -> Lambda reference not measured: {error}")
        return {"error": str(error)[:300]}
    progress(f"raw S3 -> SNS -> SQS -> Lambda: {', '.join(f'{s:.2f}' for s in trips)} s")
    return percentiles(trips) | {"runs": SINGLES}


def page_stages(pages: list[Any]) -> dict[str, float]:
    """Seconds per stage summed over a job's pages (each page records its own `timings_ms`)."""
    totals: dict[str, int] = {}
    for page in pages:
        for stage, ms in (page.get("timings_ms") or {}).items():
            totals[stage] = totals.get(stage, 0) + int(ms)
    return {stage: round(ms / 1000, 2) for stage, ms in totals.items()}


def s3_only(bench: BenchCloud, path: Path, progress: Progress) -> dict[str, Any]:
    """The file through a dataset with `x-dynamodb: false`, upload to COMPLETE, against DuckDB reading it and
    writing the same day-partitioned output to local disk."""
    outs = bench.outputs
    started = time.perf_counter()
    upload = ops.ingest(path, S3_DATASET, outs, f"{S3_DATASET}/bench/{path.name}")
    job = ops.wait_for(outs, [upload], lambda jobs: None, timeout=7200)[0]
    seconds = time.perf_counter() - started
    rows = int(job.get("rows_input") or 0)
    progress(f"S3-only job {job.get('status')} in {seconds:.1f}s, {job.get('pages_total')} pages")
    stages = page_stages(JobStore(outs["JobsTable"]).pages(job["job_id"]))
    progress("S3-only stage seconds summed over pages: " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    duckdb = references.duckdb_reference(path, path.parent / "duckdb-s3-only")
    return {
        "job_id": job["job_id"],
        "job_status": job.get("status"),
        "rows": rows,
        "rows_valid": int(job.get("rows_valid") or 0),
        "pages": int(job.get("pages_total") or 0),
        "end_to_end_s": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "stages_s": stages,
        "duckdb_s": duckdb["seconds"],
        "duckdb_rows_per_s": round(rows / duckdb["seconds"]) if duckdb["seconds"] else None,
    }


def _athena(outs: dict[str, str], sql: str) -> tuple[float, list[Any]]:
    from pipeline.tools.query import run_query

    started = time.perf_counter()
    result = run_query(
        sql,
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
    )
    return time.perf_counter() - started, [tuple(row) for row in result.rows]


def _duckdb(sql: str) -> tuple[float, list[Any]]:
    import duckdb

    started = time.perf_counter()
    with duckdb.connect() as con:
        rows = con.execute(sql).fetchall()
    return time.perf_counter() - started, rows


def query(bench: BenchCloud, path: Path, s3: dict[str, Any]) -> dict[str, Any]:
    """Athena `count(*)` and `GROUP BY dt` over the S3-only job's output, against DuckDB over the source file;
    the count must equal the job's valid rows (DuckDB counts every row of the file, rejects included)."""
    outs = bench.outputs
    source = f"read_csv('{path}', header=true, all_varchar=true)"
    day = "strftime(TRY_CAST(order_ts AS TIMESTAMP), '%Y-%m-%d')"
    count_s, count = _athena(outs, f"SELECT count(*) FROM {S3_DATASET}")
    group_s, groups = _athena(outs, f"SELECT dt, count(*) FROM {S3_DATASET} GROUP BY dt")
    duck_count_s, duck_count = _duckdb(f"SELECT count(*) FROM {source}")
    duck_group_s, duck_groups = _duckdb(f"SELECT {day} AS dt, count(*) FROM {source} GROUP BY dt")
    athena_rows = int(count[0][0]) if count else None
    return {
        "athena_count_s": round(count_s, 3),
        "athena_group_by_s": round(group_s, 3),
        "duckdb_count_s": round(duck_count_s, 3),
        "duckdb_group_by_s": round(duck_group_s, 3),
        "athena_rows": athena_rows,
        "athena_groups": len(groups),
        "athena_group_rows": sum(int(n) for _, n in groups),
        "duckdb_rows": int(duck_count[0][0]),
        "duckdb_groups": len(duck_groups),
        "matches_job": athena_rows == s3["rows_valid"],
    }


def restart(bench: BenchCloud, s3: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """`pipeline local stop` then `pipeline local start` (the same calls) with the jobs' state in the cloud,
    against the first start of the same cloud with an empty state; the S3-only job must still be COMPLETE."""
    local = bench.local
    started = time.perf_counter()
    report = local.stop()
    stop_s = time.perf_counter() - started
    progress(f"stop: {report.message} ({stop_s:.1f}s)")
    started = time.perf_counter()
    ops.start_local(bench.cloud, progress)
    start_s = time.perf_counter() - started
    loaded = local.status().get("loaded") or {}
    job = JobStore(bench.outputs["JobsTable"]).get(s3["job_id"]) or {}
    return {
        "stop_s": round(stop_s, 2),
        "start_s": round(start_s, 2),
        "saved": report.saved,
        "state_mb": round(float(loaded.get("bytes") or 0) / 1e6, 1),
        "empty_start_s": bench.start_s,
        "job_status_after": job.get("status"),
        "job_status": "COMPLETE" if report.saved and job.get("status") == "COMPLETE" else "NOT SAVED OR LOST",
    }


def _small_file_rows(small: dict[str, Any]) -> list[RatioRow]:
    """The burst's p50/p95/max against the raw round trip's p50 (else a 1-row file alone), and the 1-row file
    alone against the raw round trip: the pipeline's own cost per file with nothing queued."""
    alone, raw = small["single_file_s"], small.get("raw_round_trip_s") or {"error": "not run"}
    alone_text = f"1-row file alone p50 {alone['p50']:.2f} s ({alone['runs']} runs)" if alone["p50"] else "—"
    if raw.get("p50"):
        reference = raw["p50"]
        reference_text = f"raw S3 → SNS → SQS → Lambda p50 {raw['p50']:.2f} s ({raw['runs']} runs)"
    else:
        reference, reference_text = alone["p50"], f"{alone_text} (no raw round trip: {raw.get('error')})"
    rows = []
    for stat in ("p50", "p95", "max"):
        value = small["latency_s"][stat]
        text = f"{value:.2f} s ({small['complete']}/{small['files']} COMPLETE)" if value is not None else "—"
        measure = f"{small['files']} small files at once: {stat} upload → COMPLETE"
        rows.append(ratio_row(SMALL_FILES, measure, value, reference, pipeline=text, reference=reference_text))
    if raw.get("p50"):
        rows.append(
            ratio_row(
                SMALL_FILES,
                "1-row file alone: p50 upload → COMPLETE",
                alone["p50"],
                raw["p50"],
                pipeline=alone_text.removeprefix("1-row file alone p50 "),
                reference=reference_text,
            )
        )
    return rows


def ratio_rows(suites: dict[str, dict[str, Any]]) -> list[RatioRow]:
    """The ratio-table lines of the suites that ran."""
    rows: list[RatioRow] = []
    if small := suites.get(SMALL_FILES):
        rows += _small_file_rows(small)
    if s3 := suites.get(S3_ONLY):
        rows.append(
            ratio_row(
                S3_ONLY,
                f"S3-only dataset end to end ({s3['rows']:,} rows, {s3['pages']} pages)",
                s3["rows_per_s"],
                s3["duckdb_rows_per_s"],
                pipeline=f"{s3['end_to_end_s']:.1f} s, {s3['rows_per_s']:,} rows/s",
                reference=f"DuckDB read + day-partitioned CSV {s3['duckdb_s']:.2f} s, "
                f"{s3['duckdb_rows_per_s'] or 0:,} rows/s",
            )
        )
    if q := suites.get(QUERY):
        agrees = "= the job's valid rows" if q["matches_job"] else "≠ the job's valid rows"
        found = {"count": f"{q['athena_rows'] or 0:,} rows {agrees}", "group_by": f"{q['athena_groups']} days"}
        for what, label in (("count", "count(*)"), ("group_by", "GROUP BY dt")):
            rows.append(
                ratio_row(
                    QUERY,
                    f"Athena {label} over the S3-only output",
                    q[f"athena_{what}_s"],
                    q[f"duckdb_{what}_s"],
                    pipeline=f"{q[f'athena_{what}_s']:.2f} s, {found[what]}",
                    reference=f"DuckDB over the source file {q[f'duckdb_{what}_s']:.2f} s",
                )
            )
    if scale := suites.get(SCALE):
        from pipeline.tools.bench.scale import scale_rows

        rows += scale_rows(scale)
    if r := suites.get(RESTART):
        rows.append(
            ratio_row(
                RESTART,
                "`pipeline local stop` with the jobs' state",
                r["stop_s"],
                None,
                pipeline=f"{r['stop_s']:.1f} s, saved: {'yes' if r['saved'] else 'NO'}",
                reference="—",
            )
        )
        rows.append(
            ratio_row(
                RESTART,
                f"`pipeline local start` loading it ({r['state_mb']:,} MB)",
                r["start_s"],
                r["empty_start_s"],
                pipeline=f"{r['start_s']:.1f} s, job {r['job_status_after']} after",
                reference=f"first start, empty state {r['empty_start_s']:.1f} s",
            )
        )
    return rows


def run_suites(
    names: list[str], rows: int, out: Path, progress: Progress, *, files: int = 100, scale: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the named suites (not the default one) on one private local cloud, then `scale` (``scale``: its
    options) on clouds of its own; return their results."""
    out.mkdir(parents=True, exist_ok=True)
    suites: dict[str, dict[str, Any]] = {}
    shared = [name for name in names if name != SCALE]
    if shared:
        suites |= _shared_cloud_suites(shared, rows, out, progress, files)
    if SCALE in names:
        from pipeline.tools.bench.scale import run_scale

        suites[SCALE] = run_scale(out, progress, **(scale or {}))
    return suites


def _shared_cloud_suites(names: list[str], rows: int, out: Path, progress: Progress, files: int) -> dict[str, Any]:
    suites: dict[str, dict[str, Any]] = {}
    path = out / f"orders-{rows}.csv"
    if S3_ONLY in names and not path.exists():
        write_orders(path, rows, seed=SEED)
        progress(f"generated {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB, seed {SEED})")
    parameters = {"PageRows": str(default_page_rows(rows))}
    with s3_only_schemas(out), private_cloud(out, progress, parameters=parameters) as bench:
        if SMALL_FILES in names:
            progress(f"small-files: {files} files of 1-1,000 rows at once")
            suites[SMALL_FILES] = small_files(bench, out, files, progress)
        if S3_ONLY in names:
            progress(f"s3-only: {rows:,} rows into {S3_DATASET} (x-dynamodb false)")
            suites[S3_ONLY] = s3_only(bench, path, progress)
        if QUERY in names:
            progress("query: Athena count(*) and GROUP BY dt vs DuckDB")
            suites[QUERY] = query(bench, path, suites[S3_ONLY])
        if RESTART in names:
            progress("restart: local stop and start with the state inside")
            suites[RESTART] = restart(bench, suites[S3_ONLY], progress)
    return suites


def bench_run(
    selected: list[str],
    rows: int,
    out: Path,
    progress: Progress,
    *,
    files: int = 100,
    scale: dict[str, Any] | None = None,
    **default: Any,
) -> dict[str, Any]:
    """The default suite (``default``: its options) if selected, then the others; one result, one bench.json
    and bench.md holding every ratio row."""
    if DEFAULT in selected:
        result = run(rows, out, progress, **default)
    else:
        result = {"version": 1, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "rows": rows}
    others = [name for name in selected if name != DEFAULT]
    if not others:
        return result
    result["suites"] = run_suites(others, rows, out, progress, files=files, scale=scale)
    result["machine"]["load_average_after"] = " ".join(f"{n:.1f}" for n in os.getloadavg())
    result["suite_rows"] = [row.as_dict() for row in ratio_rows(result["suites"])]
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "bench.md").write_text(markdown(result))
    return result
