"""What checkpointing costs a job end to end: the same file through the pipeline with checkpoints off and on.

Usage: python benchmarks/checkpoint_cost.py [ROWS]   (default 1,000,000; each mode on a fresh private cloud)

Each run deploys the `bench` stage (50,000 rows a page, the paged path), uploads the file, and measures upload
to COMPLETE; with checkpoints on it also measures how long after COMPLETE a checkpoint holds the job (the
window in which a kill -9 would lose it) and how many checkpoints ran during the job. Note the machine load.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def run(rows: int, path: Path, checkpoints: bool) -> dict[str, Any]:
    from pipeline.tools.bench.cloud import private_cloud
    from pipeline.tools.cli import ops

    os.environ["PIPELINE_CHECKPOINTS"] = "on" if checkpoints else "off"
    with tempfile.TemporaryDirectory() as work, private_cloud(Path(work), lambda line: None) as bench:
        load = os.getloadavg()[0]
        before = bench.local.status().get("checkpoint", {}).get("generation", 0)
        started = time.perf_counter()
        upload = ops.ingest(path, "orders", bench.outputs, f"orders/cost/{path.name}")
        job = ops.wait_for(bench.outputs, [upload], lambda jobs: None, timeout=7200)[0]
        seconds = time.perf_counter() - started
        assert job["status"] == "COMPLETE", job
        during = bench.local.status().get("checkpoint", {}).get("generation", 0) - before
        saved_after = None
        if checkpoints:
            while bench.local.status().get("pending_changes") != 0:
                time.sleep(0.2)
            saved_after = time.perf_counter() - started - seconds
        status = bench.local.status()
        return {
            "checkpoints": checkpoints,
            "rows": rows,
            "upload_to_complete_s": round(seconds, 1),
            "rows_per_s": round(rows / seconds),
            "checkpoints_during_job": during,
            "saved_after_complete_s": None if saved_after is None else round(saved_after, 1),
            "last_checkpoint": status.get("checkpoint"),
            "load_average_at_start": round(load, 1),
            "load_average_at_end": round(os.getloadavg()[0], 1),
        }


def main() -> None:
    from pipeline.tools.sample import write_orders

    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        write_orders(path, rows, seed=42)
        results = [run(rows, path, checkpoints=False), run(rows, path, checkpoints=True)]
    for result in results:
        print(json.dumps(result))
    off, on = results
    cost = on["upload_to_complete_s"] / off["upload_to_complete_s"] - 1
    print(
        f"checkpoints cost {cost:+.1%} end to end ({off['upload_to_complete_s']} s off, "
        f"{on['upload_to_complete_s']} s on, {on['checkpoints_during_job']} during the job); "
        f"the job was in a checkpoint {on['saved_after_complete_s']} s after COMPLETE"
    )


if __name__ == "__main__":
    main()
