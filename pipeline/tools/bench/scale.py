"""The `scale` suite: end-to-end rows/s and Lambda peak memory at several sizes, each against its floor.

Each size runs on a private local cloud of its own (fresh state: the cloud's memory grows with the DynamoDB
items it holds, and one size must not pay for the last). The DynamoDB path is measured as the default suite
measures it (paged, `InlineMaxBytes=0`), with the DynamoDB write floor measured in the same cloud right after;
the S3-only path (`x-dynamodb: false`) against DuckDB reading the same file and writing the same
day-partitioned output. The curve is flat when the ratio to the floor moves little from the smallest size to
the largest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.runtime.config import Settings
from pipeline.tools.bench import observe, references
from pipeline.tools.bench.cloud import private_cloud
from pipeline.tools.bench.report import FLOOR_TARGET
from pipeline.tools.bench.suites import SCALE, RatioRow, ratio_row
from pipeline.tools.sample import write_orders

Progress = Callable[[str], None]
DYNAMODB_SIZES = (100_000, 1_000_000, 3_000_000)
S3_ONLY_SIZES = (10_000_000,)
FLAT_WITHIN = 0.15  # the target: the ratio to the floor within 15 % from the smallest size to the largest


def _file(out: Path, rows: int, progress: Progress) -> Path:
    from pipeline.tools.bench.run import SEED  # the default suite's file, so a size both run is one file

    path = out / f"orders-{rows}.csv"
    if not path.exists():
        write_orders(path, rows, seed=SEED)
        progress(f"generated {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB, seed {SEED})")
    return path


def _peaks(lambdas: dict[str, Any]) -> dict[str, int]:
    return {name: int(info["peak_rss_mb"]) for name, info in sorted(lambdas.items()) if "peak_rss_mb" in info}


def dynamodb_point(out: Path, rows: int, floor_items: int, progress: Progress) -> dict[str, Any]:
    """One size of the DynamoDB path, upload to COMPLETE, and the write floor in the same cloud."""
    from pipeline.tools.bench.run import _floor_items, _pipeline_run, _processors, default_page_rows

    path = _file(out, rows, progress)
    page_rows = default_page_rows(rows)
    parameters = {"InlineMaxBytes": "0", "PageRows": str(page_rows)}
    with private_cloud(out, progress, parameters=parameters) as bench:
        progress(f"scale: {rows:,} rows with DynamoDB, {page_rows:,} rows a page")
        run = _pipeline_run(bench, path, progress)
        items = _floor_items(path, min(floor_items, run["items_written"] or floor_items))
        floor = references.dynamodb_floor(items, Settings().dynamodb_writers * _processors())
    return {
        "path": "dynamodb",
        "rows": rows,
        "job_status": run["job_status"],
        "pages": run["pages"],
        "end_to_end_s": run["end_to_end_s"],
        "rows_per_s": run["rows_per_s"],
        "floor_items_per_s": floor["items_per_s"],
        "ratio_to_floor": round(run["rows_per_s"] / floor["items_per_s"], 3) if floor["items_per_s"] else None,
        "peak_rss_mb": _peaks(run["lambda"]),
    }


def s3_only_point(out: Path, rows: int, progress: Progress) -> dict[str, Any]:
    """One size of the S3-only path, upload to COMPLETE, against DuckDB on the same file."""
    from pipeline.tools.bench.run import default_page_rows
    from pipeline.tools.bench.suite_run import s3_only, s3_only_schemas

    path = _file(out, rows, progress)
    parameters = {"InlineMaxBytes": "0", "PageRows": str(default_page_rows(rows))}
    with s3_only_schemas(out), private_cloud(out, progress, parameters=parameters) as bench:
        progress(f"scale: {rows:,} rows S3-only")
        with observe.WorkerMemory(bench.local.pid()) as memory:
            run = s3_only(bench, path, progress)
        stack = bench.cloud.stack_name
        peaks = {name.removeprefix(f"{stack}-"): round(peak) for name, peak in sorted(memory.peak_mb.items())}
    return {
        "path": "s3-only",
        "rows": rows,
        "job_status": run["job_status"],
        "pages": run["pages"],
        "end_to_end_s": run["end_to_end_s"],
        "rows_per_s": run["rows_per_s"],
        "duckdb_rows_per_s": run["duckdb_rows_per_s"],
        "ratio_to_duckdb": round(run["rows_per_s"] / run["duckdb_rows_per_s"], 3) if run["duckdb_rows_per_s"] else None,
        "peak_rss_mb": peaks,
    }


def flatness(points: Sequence[dict[str, Any]]) -> float | None:
    """How far the ratio to the floor moves across sizes: (largest - smallest) / smallest, None below 2 sizes."""
    ratios = [p["ratio_to_floor"] for p in points if p.get("ratio_to_floor")]
    if len(ratios) < 2:
        return None
    return round((max(ratios) - min(ratios)) / min(ratios), 3)


def run_scale(
    out: Path,
    progress: Progress,
    *,
    sizes: Sequence[int] = DYNAMODB_SIZES,
    s3_sizes: Sequence[int] = S3_ONLY_SIZES,
    floor_items: int = 100_000,
) -> dict[str, Any]:
    """Every size of both paths, smallest first; the points and the flatness of the DynamoDB curve."""
    out.mkdir(parents=True, exist_ok=True)
    points = [dynamodb_point(out, rows, floor_items, progress) for rows in sorted(sizes)]
    s3_points = [s3_only_point(out, rows, progress) for rows in sorted(s3_sizes)]
    every = [*points, *s3_points]
    failed = [f"{p['path']} {p['rows']:,} rows {p['job_status']}" for p in every if p["job_status"] != "COMPLETE"]
    return {
        "job_status": "; ".join(failed) or "COMPLETE",
        "dynamodb": points,
        "s3_only": s3_points,
        "flatness": flatness(points),
        "flat_within": FLAT_WITHIN,
    }


def _memory(point: dict[str, Any]) -> str:
    return ", ".join(f"{name} {mb:,} MB" for name, mb in point["peak_rss_mb"].items()) or "not sampled"


def scale_rows(result: dict[str, Any]) -> list[RatioRow]:
    """The ratio-table lines of the scale suite: one per size and path, and the flatness of the curve."""
    rows: list[RatioRow] = []
    for p in result["dynamodb"]:
        rows.append(
            ratio_row(
                SCALE,
                f"DynamoDB path, {p['rows']:,} rows ({p['pages']} pages, {p['job_status']})",
                p["rows_per_s"],
                p["floor_items_per_s"],
                pipeline=f"{p['end_to_end_s']:.1f} s, {p['rows_per_s']:,} rows/s; peak {_memory(p)}",
                reference=f"DynamoDB write floor {p['floor_items_per_s']:,} items/s",
                goal=(">=", FLOOR_TARGET),
            )
        )
    if result["flatness"] is not None:
        spread = result["flatness"]
        rows.append(
            RatioRow(
                SCALE,
                "DynamoDB path: spread of the ratio to the floor across sizes",
                f"{spread:.1%}",
                "smallest ratio",
                spread,
                f"<= {result['flat_within']:g}",
                spread <= result["flat_within"],
            )
        )
    for p in result["s3_only"]:
        rows.append(
            ratio_row(
                SCALE,
                f"S3-only path, {p['rows']:,} rows ({p['pages']} pages, {p['job_status']})",
                p["rows_per_s"],
                p["duckdb_rows_per_s"],
                pipeline=f"{p['end_to_end_s']:.1f} s, {p['rows_per_s']:,} rows/s; peak {_memory(p)}",
                reference=f"DuckDB read + day-partitioned CSV {p['duckdb_rows_per_s'] or 0:,} rows/s",
            )
        )
    return rows
