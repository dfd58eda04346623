"""Peak memory of the pager's cutting loop and of one page's processing, for files of growing size.

Usage: python benchmarks/memory.py ROWS [ROWS ...]   (each measurement runs in a fresh process)
The pager streams the object and holds one page plus one read chunk; a page processor holds one page.
Both should stay flat as the file grows. S3 is replaced by a local file stream here; the code path that
cuts pages (pipeline.pages.cutter.cut_pages) and processes a page is the one the Lambdas run.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

PAGE_ROWS = 50_000


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_pager(path: str) -> dict[str, float]:
    from pipeline.pages.cutter import cut_pages
    from pipeline.process.records import split_header

    with open(path, "rb") as handle:
        _, start = split_header(handle.read(1 << 20))
    baseline = _peak_mb()
    pages = 0
    with open(path, "rb") as stream:
        stream.seek(start)
        for _ in cut_pages(stream, start=start, first_line=2, rows=PAGE_ROWS, limit=10**9):
            pages += 1
    return {"pages": pages, "baseline_mb": round(baseline), "peak_mb": round(_peak_mb())}


def measure_page(path: str) -> dict[str, float]:
    from pipeline.contract import load_contract
    from pipeline.pages.cutter import cut_pages
    from pipeline.process.header import parse_header
    from pipeline.process.parse import parse_page
    from pipeline.process.records import split_header
    from pipeline.process.validate import validate_page
    from pipeline.store.records import encode_items
    from pipeline.store.results import partition_files

    contract = load_contract("orders")
    with open(path, "rb") as handle:
        raw, start = split_header(handle.read(1 << 20))
        handle.seek(start)
        span = next(cut_pages(handle, start=start, first_line=2, rows=PAGE_ROWS, limit=1))
        handle.seek(span.start)
        body = handle.read(span.end - span.start)
    baseline = _peak_mb()
    validated = validate_page(parse_page(body, parse_header(raw)), contract)
    encode_items(validated.table, contract, "job", validated.lines)
    partition_files(validated.table, contract, "job", 0)
    return {"rows": validated.input_rows, "baseline_mb": round(baseline), "peak_mb": round(_peak_mb())}


def main(sizes: list[int]) -> None:
    from pipeline.sample import write_orders

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            path = Path(tmp) / f"orders-{rows}.csv"
            write_orders(path, rows, seed=42)
            for kind in ("pager", "page"):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True, text=True
                ).stdout
                results.append(
                    {"file_rows": rows, "file_mb": round(path.stat().st_size / 1e6), "step": kind, **json.loads(out)}
                )
            path.unlink()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        fn = measure_pager if sys.argv[2] == "pager" else measure_page
        print(json.dumps(fn(sys.argv[3])))
    else:
        main([int(a) for a in sys.argv[1:]] or [1_000_000])
