"""Load test: many files uploaded at once plus one large file, on a private local cloud; all must reconcile."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipeline.runtime import aws
from pipeline.tools.bench.cloud import private_cloud
from pipeline.tools.cli import ops
from pipeline.tools.operate.reconcile import reconcile
from pipeline.tools.sample import write_orders


def _upload(outs: dict[str, str], path: Path, key: str) -> dict[str, str]:
    with path.open("rb") as body:
        version = aws.client("s3").put_object(Bucket=outs["IngestBucket"], Key=key, Body=body).get("VersionId", "")
    return {"key": key, "version_id": version}


def run(workdir: Path, files: int, rows_each: int, big_rows: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Upload ``files`` files of ``rows_each`` rows and one of ``big_rows`` rows at once; wait; reconcile all."""
    workdir.mkdir(parents=True, exist_ok=True)
    sources = []
    for i in range(files):
        path = workdir / f"small-{i:02d}.csv"
        write_orders(path, rows_each, seed=100 + i, start_id=10_000_000 + i * rows_each)
        sources.append((path, f"orders/load/small-{i:02d}.csv"))
    big = workdir / "big.csv"
    write_orders(big, big_rows, seed=99, start_id=50_000_000)
    sources.append((big, "orders/load/big.csv"))
    total_rows = files * rows_each + big_rows
    with private_cloud(workdir, progress) as bench:
        outs = bench.outputs
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            uploads = list(pool.map(lambda s: _upload(outs, *s), sources))
        progress(f"uploaded {len(uploads)} files ({total_rows:,} rows) in {time.perf_counter() - started:.1f}s")
        last = [0.0]

        def report(jobs: list[dict[str, Any]]) -> None:
            if time.perf_counter() - last[0] > 10:
                last[0] = time.perf_counter()
                done = sum(1 for j in jobs if j.get("status") in ("COMPLETE", "FAILED"))
                progress(f"{done}/{len(jobs)} jobs finished, {time.perf_counter() - started:.0f}s")

        jobs = ops.wait_for(outs, uploads, report, timeout=3600)
        wall = time.perf_counter() - started
        checks = [reconcile(j["job_id"], outs["JobsTable"], outs["RecordsTable"], outs["ResultsBucket"]) for j in jobs]
    return {
        "files": len(sources),
        "rows": total_rows,
        "wall_s": round(wall, 1),
        "rows_per_s": round(total_rows / wall),
        "complete": sum(1 for j in jobs if j.get("status") == "COMPLETE"),
        "reconciled": sum(1 for c in checks if c.ok),
        "big_file_s": next((j.get("duration_s") for j in jobs if j.get("key") == "orders/load/big.csv"), None),
        "problems": {c.job_id: c.problems for c in checks if not c.ok},
    }
