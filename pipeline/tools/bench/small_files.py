"""The `small-files` suite: many small files uploaded at once, seconds from upload to COMPLETE and to queryable in
Athena, on an idle cloud and again while a large file pages; against the raw S3 -> SNS -> SQS -> Lambda trip."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.runtime import aws
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.jobs.model import FINISHED
from pipeline.tools.bench.cloud import BenchCloud
from pipeline.tools.bench.raw_trip import ran_at, raw_round_trip
from pipeline.tools.bench.suites import percentiles
from pipeline.tools.cli import ops
from pipeline.tools.sample import write_orders

Progress = Callable[[str], None]
SINGLES = 5  # 1-row files uploaded one at a time: the small-file reference
SEED = 42
DATASET = "orders"
BURST_IDS = 30_000_000  # order ids of the idle burst; the burst beside a large file starts at UNDER_LOAD_IDS
UNDER_LOAD_IDS = 40_000_000
SINGLE_IDS = 39_000_000
ID_SPAN = 1_000  # ids per file: files hold 1-1,000 rows


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


def _files(workdir: Path, files: int, first_id: int, name: str) -> list[tuple[bytes, str]]:
    """``files`` seeded files of 1-1,000 rows, each with ids of its own from ``first_id``; (body, key) each."""
    rng = random.Random(SEED + first_id)
    sources = []
    for i in range(files):
        path = workdir / "small-files" / f"{name}-{i:04d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_orders(path, rng.randint(1, ID_SPAN), seed=first_id + i, start_id=first_id + i * ID_SPAN)
        sources.append((path.read_bytes(), f"{DATASET}/{name}/{path.name}"))
    return sources


def queryable_at(outs: dict[str, str], first_id: int, files: int, expected: int, timeout: float = 300) -> float | None:
    """The wall clock at which an Athena count of the burst's rows (its id range) first returned ``expected``,
    asked back to back from now; None if it never did within ``timeout``."""
    from pipeline.tools.query import run_query

    low, high = f"ORD-{first_id:08d}", f"ORD-{first_id + files * ID_SPAN - 1:08d}"
    sql = f"SELECT count(*) FROM {DATASET} WHERE order_id BETWEEN '{low}' AND '{high}'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = run_query(
            sql,
            database=outs["GlueDatabase"],
            workgroup=outs["AthenaWorkGroup"],
            output_location=outs["AthenaResultLocation"],
        )
        if result.rows and int(result.rows[0][0]) == expected:
            return time.time()
        time.sleep(0.5)
    return None


def burst(outs: dict[str, str], sources: list[tuple[bytes, str]], first_id: int, progress: Progress) -> dict[str, Any]:
    """Upload every source at once (32 threads); seconds from each upload to its job's COMPLETE, and from the
    first upload until Athena counts every valid row of them."""
    started = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        puts = list(pool.map(lambda source: _put(outs, *source), sources))
    upload_s = time.perf_counter() - started
    progress(f"uploaded {len(sources)} files in {upload_s:.1f}s")
    jobs = _wait_all(outs, [upload for _, upload in puts], progress)
    latencies = [
        _epoch(job["finished_at"]) - at
        for (at, _), job in zip(puts, jobs, strict=True)
        if job and job.get("status") == "COMPLETE" and job.get("finished_at")
    ]
    complete = len(latencies)
    valid = sum(int(j.get("rows_valid") or 0) for j in jobs if j)
    first_upload = min(at for at, _ in puts)
    finished = [_epoch(j["finished_at"]) for j in jobs if j and j.get("status") == "COMPLETE" and j.get("finished_at")]
    seen = queryable_at(outs, first_id, len(sources), valid) if complete == len(sources) else None
    queryable = round(seen - first_upload, 2) if seen else None
    progress(f"all {len(sources)} files queryable in Athena {queryable} s after the first upload")
    return {
        "files": len(sources),
        "rows": sum(int(j.get("rows_input") or 0) for j in jobs if j),
        "rows_valid": valid,
        "upload_s": round(upload_s, 2),
        "complete": complete,
        "latency_s": percentiles(latencies),
        "all_complete_s": round(max(finished) - first_upload, 2) if finished else None,
        "all_queryable_s": queryable,
        "job_status": "COMPLETE" if complete == len(sources) else f"{complete}/{len(sources)} COMPLETE",
    }


def _paging(outs: dict[str, str], upload: dict[str, str], timeout: float = 600) -> dict[str, Any]:
    """The large file's job once its first page is done (its pages are then being processed)."""
    deadline, job = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        current: list[dict[str, Any]] = [dict(j) for j in JobStore(outs["JobsTable"]).jobs()]
        job = next((j for j in current if j.get("key") == upload["key"]), None)
        if job and (int(job.get("pages_done") or 0) > 0 or job.get("status") in FINISHED):
            return job
        time.sleep(0.5)
    return job or {}


def under_load(bench: BenchCloud, workdir: Path, files: int, large: Path, progress: Progress) -> dict[str, Any]:
    """The same burst while ``large`` (a file past the inline limit, through the DynamoDB path) pages: uploaded
    first, the burst once its first page is done; both reported."""
    outs = bench.outputs
    sources = _files(workdir, files, UNDER_LOAD_IDS, "under-load")
    started = time.perf_counter()
    upload = ops.ingest(large, DATASET, outs, f"{DATASET}/large/{large.name}")
    job = _paging(outs, upload)
    progress(f"large file paging ({job.get('pages_done')}/{job.get('pages_total')} pages done): burst of {files}")
    during = burst(outs, sources, UNDER_LOAD_IDS, progress)
    large_job = ops.wait_for(outs, [upload], lambda jobs: None, timeout=7200)[0]
    large_s = time.perf_counter() - started
    progress(f"large file {large_job.get('status')} in {large_s:.1f}s")
    rows = int(large_job.get("rows_input") or 0)
    during["large"] = {
        "job_id": large_job.get("job_id"),
        "rows": rows,
        "pages": int(large_job.get("pages_total") or 0),
        "end_to_end_s": round(large_s, 2),
        "rows_per_s": round(rows / large_s) if large_s else None,
        "job_status": large_job.get("status"),
    }
    if large_job.get("status") != "COMPLETE":
        during["job_status"] = f"{during['job_status']}; large file {large_job.get('status')}"
    return during


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


def small_files(
    bench: BenchCloud, workdir: Path, files: int, progress: Progress, large: Path | None = None
) -> dict[str, Any]:
    """``files`` files of 1-1,000 rows uploaded at once, against a 1-row file uploaded alone (the same path with
    nothing queued) and the raw round trip; then, given ``large``, the same burst while that file pages."""
    outs = bench.outputs
    sources = _files(workdir, files, BURST_IDS, "small")
    single = workdir / "small-files" / "single.csv"
    write_orders(single, 1, seed=7, start_id=SINGLE_IDS)
    raw = raw_reference(outs, single.read_bytes(), progress)
    alone = []
    for n in range(SINGLES):  # one at a time, each after the last finished
        at, upload = _put(outs, single.read_bytes(), f"{DATASET}/single/single-{n}.csv")
        job = ops.wait_for(outs, [upload], lambda jobs: None, timeout=600)[0]
        alone.append(_epoch(job["finished_at"]) - at if job.get("finished_at") else float("inf"))
    progress(f"1-row file alone: {', '.join(f'{s:.2f}' for s in alone)} s")
    result = burst(outs, sources, BURST_IDS, progress)
    result |= {"single_file_s": percentiles(alone) | {"runs": SINGLES}, "raw_round_trip_s": raw}
    if large is not None:
        progress(f"small-files beside a large file: {large.name}")
        result["under_load"] = under_load(bench, workdir, files, large, progress)
        if result["under_load"]["job_status"] != "COMPLETE":
            result["job_status"] = f"{result['job_status']}; beside a large file: {result['under_load']['job_status']}"
    return result
