"""Peak memory of the pager's cutting loop and of one page's processing, for files of growing size;
and of the pager, a page and an inline upload on hostile files (huge records, gzip bombs).

Usage: python benchmarks/memory.py ROWS [ROWS ...]   (each measurement runs in a fresh process)
       python benchmarks/memory.py --hostile [CASE ...]
The pager streams the object and holds one read chunk; a page processor holds one page; the upload
processor reads an inline or .gz file page by page. All should stay flat as the file grows. S3 is replaced
by a local file stream here; the code paths that cut pages (pipeline.runtime.paging.cutter), read an inline upload
(pipeline.runtime.paging.inline) and process a page are the ones the Lambdas run, without the writes.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGE_ROWS = 50_000


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_pager(path: str) -> dict[str, float]:
    from pipeline.runtime.paging.cutter import cut_pages
    from pipeline.runtime.rows.records import split_header

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
    from pipeline.runtime.contract import load_contract
    from pipeline.runtime.paging.cutter import cut_pages
    from pipeline.runtime.rows.header import parse_header
    from pipeline.runtime.rows.parse import parse_page
    from pipeline.runtime.rows.records import split_header
    from pipeline.runtime.rows.validate import validate_page
    from pipeline.runtime.sinks.dynamodb import encode_items
    from pipeline.runtime.sinks.results import partition_files

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


def measure_inline(path: str) -> dict[str, object]:
    """The upload processor's read of an inline (or .gz) file, page by page, with each page processed."""
    from pipeline.runtime.config import Settings
    from pipeline.runtime.contract import load_contract
    from pipeline.runtime.errors import TerminalError
    from pipeline.runtime.paging.inline import inline_pages, open_stream, oversized
    from pipeline.runtime.rows.parse import parse_page
    from pipeline.runtime.rows.store_rules import apply_store_rules
    from pipeline.runtime.rows.validate import validate_page
    from pipeline.runtime.sinks.dynamodb import encode_items
    from pipeline.runtime.sinks.results import partition_files, rejects_file

    contract, settings = load_contract("orders"), Settings()
    baseline, started = _peak_mb(), time.perf_counter()
    gzipped = path.endswith(".gz")
    pages = rows = rejected = 0
    try:
        opener = lambda: open(path, "rb")  # noqa: E731, SIM115 (a fresh process per measurement)
        header, stream = inline_pages(open_stream(opener, gzipped, settings), contract, settings)
        for span, body in stream:
            if span.oversized:
                rejects = [oversized(span, body, settings, gzipped).reject()]
                rows += 1
            else:
                parsed = parse_page(body, header, first_line=span.first_line)
                page = apply_store_rules(validate_page(parsed, contract), parsed, contract)
                encode_items(page.table, contract, "job", page.lines)
                partition_files(page.table, contract, "job", 0)
                rejects, rows = page.rejects, rows + page.input_rows
            rejects_file(rejects)
            pages, rejected = pages + 1, rejected + len(rejects)
    except TerminalError as exc:
        outcome: dict[str, object] = {"failed": f"{type(exc).__name__}: {str(exc)[:90]}..."}
    else:
        outcome = {"pages": pages, "rows": rows, "rejected": rejected}
    seconds = round(time.perf_counter() - started, 1)
    return {**outcome, "baseline_mb": round(baseline), "peak_mb": round(_peak_mb()), "seconds": seconds}


HEADER = b"order_id,customer_id,order_ts,ship_date,status,amount,currency,quantity,is_gift,note\n"
ROW = b"ORD-%08d,42,2024-05-01T10:00:00Z,2024-05-02,PAID,19.99,EUR,2,false,%s\n"


def _one_field(path: Path, size: int, gzipped: bool) -> None:
    """Two small rows around one row whose note is ``size`` bytes."""
    import gzip

    with gzip.open(path, "wb", compresslevel=6) if gzipped else path.open("wb") as out:
        out.write(HEADER + ROW % (1, b"ok") + ROW[:-3] % 2 + b'"')
        for _ in range(size // (1 << 20)):
            out.write(b"x" * (1 << 20))
        out.write(b"x" * (size % (1 << 20)) + b'"\n' + ROW % (3, b"ok"))


def _duplicates(path: Path, rows: int) -> None:
    import gzip

    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(HEADER)
        line = ROW % (1, b"ok")
        for _ in range(rows // 10_000):
            out.write(line * 10_000)


def _sample_gzip(path: Path, rows: int) -> None:
    import gzip
    import shutil

    from pipeline.tools.sample import write_orders

    plain = path.with_suffix("")
    write_orders(plain, rows, seed=42)
    with plain.open("rb") as source, gzip.open(path, "wb", compresslevel=6) as out:
        shutil.copyfileobj(source, out, 1 << 20)
    plain.unlink()


HOSTILE = {  # name: (what, how the file is made, which step reads it)
    "record-300mb": ("one 300 MB record, paged", lambda p: _one_field(p, 300_000_000, False), "pager"),
    "field-16mib": (
        "a page holding a record just under the 16 MiB limit",
        lambda p: _one_field(p, (16 << 20) - 200, False),
        "page",
    ),
    "field-5mb-inline": (
        "one 5 MB field, inline (InlineMaxBytes)",
        lambda p: _one_field(p, 5_000_000, False),
        "inline",
    ),
    "field-300mb.gz": ("one 300 MB field in 0.3 MB of gzip", lambda p: _one_field(p, 300_000_000, True), "inline"),
    "dupes-2m.gz": ("2M duplicate rows in 0.3 MB of gzip", lambda p: _duplicates(p, 2_000_000), "inline"),
    "orders-1.5m.gz": (
        "1.5M sample rows, 124 MiB: just under the 128 MiB limit",
        lambda p: _sample_gzip(p, 1_500_000),
        "inline",
    ),
    "orders-2m.gz": ("2M sample rows, 165 MiB: over the limit", lambda p: _sample_gzip(p, 2_000_000), "inline"),
}


def hostile(names: list[str]) -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or list(HOSTILE):
            what, make, step = HOSTILE[name]
            path = Path(tmp) / (name if name.endswith(".gz") else name + ".csv")
            path = path.with_name(path.name.replace(".gz", ".csv.gz"))
            make(path)
            out = subprocess.run(
                [sys.executable, __file__, "--child", step, str(path)], check=True, capture_output=True, text=True
            ).stdout
            results.append(
                {
                    "case": name,
                    "file": what,
                    "file_mb": round(path.stat().st_size / 1e6, 1),
                    "step": step,
                    **json.loads(out),
                }
            )
            path.unlink()
    print(json.dumps(results, indent=2))


def main(sizes: list[int]) -> None:
    from pipeline.tools.sample import write_orders

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
    if sys.argv[1:2] == ["--child"]:
        fn = {"pager": measure_pager, "page": measure_page, "inline": measure_inline}[sys.argv[2]]
        print(json.dumps(fn(sys.argv[3])))
    elif sys.argv[1:2] == ["--hostile"]:
        hostile(sys.argv[2:])
    else:
        main([int(a) for a in sys.argv[1:]] or [1_000_000])
