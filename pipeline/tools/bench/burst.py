"""Burst: many small files uploaded at once into a private local cloud; every version must end with a job."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.runtime import aws
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.jobs.model import FINISHED
from pipeline.tools.bench.cloud import private_cloud
from pipeline.tools.operate.sweep import find
from pipeline.tools.sample import write_orders


def _seconds(start: str, end: str) -> float:
    def parse(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (parse(end) - parse(start)).total_seconds()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def run(
    workdir: Path,
    files: int,
    rows_each: int,
    progress: Callable[[str], None],
    *,
    stall_s: float = 180,
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Upload ``files`` files of ``rows_each`` rows at once (32 threads); wait until every version's job has
    finished, or nothing moved for ``stall_s``; report latency, throughput and what `pipeline sweep` finds."""
    workdir.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(files):
        path = workdir / f"burst-{i:04d}.csv"
        write_orders(path, rows_each, seed=1_000 + i, start_id=20_000_000 + i * rows_each)
        sources.append((path.read_bytes(), f"orders/burst/burst-{i:04d}.csv"))
    with private_cloud(workdir, progress, parameters=parameters) as bench:
        outs = bench.outputs
        s3, store = aws.client("s3"), JobStore(outs["JobsTable"])

        def put(source: tuple[bytes, str]) -> tuple[str, str]:
            body, key = source
            return key, str(s3.put_object(Bucket=outs["IngestBucket"], Key=key, Body=body)["VersionId"])

        started = time.perf_counter()
        with ThreadPoolExecutor(32) as pool:
            uploads = list(pool.map(put, sources))
        uploaded_s = time.perf_counter() - started
        progress(f"uploaded {files} files in {uploaded_s:.1f}s")
        done, moved = -1, time.perf_counter()
        while True:
            jobs = {(j.get("key"), j.get("version_id")): j for j in store.jobs()}
            found = [jobs.get(u) for u in uploads]
            finished = sum(1 for j in found if j and j.get("status") in FINISHED)
            if finished != done:
                done, moved = finished, time.perf_counter()
                progress(f"{finished}/{files} jobs finished, {moved - started:.0f}s")
            if finished == files or time.perf_counter() - moved > stall_s:
                break
            time.sleep(1)
        wall = (moved if finished == files else time.perf_counter()) - started
        strays = find(outs, older_than=0)
    latencies = [_seconds(j["event_time"], j["finished_at"]) for j in found if j and j.get("finished_at")]
    return {
        "files": files,
        "rows_each": rows_each,
        "upload_s": round(uploaded_s, 1),
        "all_finished_s": round(wall, 1) if finished == files else None,
        "files_per_s": round(finished / wall, 2),
        "latency_s": {
            "p50": _percentile(latencies, 0.5),
            "p95": _percentile(latencies, 0.95),
            "max": round(max(latencies), 1) if latencies else 0.0,
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
        "statuses": dict(Counter(str(j.get("status")) if j else "NO JOB" for j in found)),
        "sweep_finds": len(strays),
    }
