"""`pipeline bench` and `pipeline cost`: measure the pipeline against its limits and peer, and price it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape

from pipeline.runtime.errors import PipelineError
from pipeline.tools.bench.suites import SUITES
from pipeline.tools.cli.exits import Exit
from pipeline.tools.cli.views import console, cost_table, emit_json, err

OUT = Path("bench-results")


def _peer_installed() -> bool:
    try:
        import awswrangler  # noqa: F401
    except ImportError:
        return False
    return True


def _sizes(option: str, text: str) -> list[int]:
    """``100000,1000000`` (``_`` allowed in a number) as row counts; a readable error for anything else."""
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated row counts, not {text!r}", param_hint=option) from None
    if any(size < 1 for size in sizes):
        raise click.BadParameter("every size must be at least 1 row", param_hint=option)
    return sizes


@click.command()
@click.option(
    "--suite",
    "suites",
    multiple=True,
    type=click.Choice(SUITES),
    help="What to measure (repeatable) [default: default]: default (the DynamoDB path of one file), small-files, "
    "s3-only, query (needs s3-only), restart (needs s3-only), scale (both paths at --scale-rows and --scale-s3-rows).",
)
@click.option(
    "--rows",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Rows of the sample dataset (fixed seed).",
)
@click.option(
    "--files",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Files of 1-1,000 rows the small-files suite uploads (each burst).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=OUT, show_default=True)
@click.option("--skip-peer", is_flag=True, help="Do not run the awswrangler peer (it needs `.[bench]`).")
@click.option("--page-rows", type=int, default=None, help="Rows a page [default: 50,000; fewer for small files].")
@click.option("--import-runs", default=5, show_default=True, help="Fresh processes per handler for import timing.")
@click.option("--floor-items", default=100_000, show_default=True, help="Items the DynamoDB floor loop writes.")
@click.option(
    "--scale-rows",
    default="100000,1000000,3000000",
    show_default=True,
    help="Sizes (comma-separated rows) the scale suite runs through the DynamoDB path.",
)
@click.option(
    "--scale-s3-rows",
    default="10000000",
    show_default=True,
    help="Sizes (comma-separated rows) the scale suite runs through an S3-only dataset (empty: none).",
)
@click.option("--keep-cloud", is_flag=True, help="Keep the private local cloud's state directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def bench(
    suites: tuple[str, ...],
    rows: int,
    files: int,
    out: Path,
    skip_peer: bool,
    page_rows: int | None,
    import_runs: int,
    floor_items: int,
    scale_rows: str,
    scale_s3_rows: str,
    keep_cloud: bool,
    as_json: bool,
) -> None:
    """Run the whole pipeline on a private local cloud and measure it, in the same run, against the DynamoDB
    write floor, DuckDB and the awswrangler peer; print the ratio table, write bench.json and bench.png."""
    from pipeline.tools.bench.peer import INSTALL_HINT
    from pipeline.tools.bench.report import ratio_table, stage_table
    from pipeline.tools.bench.suite_run import bench_run
    from pipeline.tools.bench.suites import DEFAULT, select, unfinished

    selected = select(suites)
    skip_peer = skip_peer or DEFAULT not in selected  # only the default suite runs the peer
    if not skip_peer and not _peer_installed():
        raise PipelineError(
            f"the awswrangler peer needs AWS SDK for pandas, which is not installed.\n"
            f"  install it with:  {INSTALL_HINT}\n  or run without the peer:  pipeline bench --skip-peer"
        )
    progress = (lambda line: None) if as_json else (lambda line: err.print(escape(line)))
    result = bench_run(
        selected,
        rows,
        out,
        progress,
        files=files,
        scale={
            "sizes": _sizes("--scale-rows", scale_rows),
            "s3_sizes": _sizes("--scale-s3-rows", scale_s3_rows),
            "floor_items": floor_items,
        },
        skip_peer=skip_peer,
        import_runs=import_runs,
        floor_items=floor_items,
        page_rows=page_rows,
        keep_cloud=keep_cloud,
    )
    if as_json:
        emit_json(result)
    else:
        console.print(ratio_table(result))
        if "pipeline" in result:
            console.print(stage_table(result))
        written = [out / name for name in ("bench.json", "bench.md", "bench.png") if (out / name).exists()]
        console.print("written: " + ", ".join(str(path) for path in written))
    if failed := unfinished(result):
        err.print(f"not COMPLETE: {', '.join(failed)}")
        sys.exit(Exit.NOT_COMPLETE)


@click.command()
@click.option("--rows", default=1_000_000, show_default=True, help="Rows of the file to price.")
@click.option(
    "--from",
    "source",
    type=click.Path(dir_okay=False, path_type=Path),
    default=OUT / "bench.json",
    show_default=True,
    help="bench.json of the run whose measured requests are scaled.",
)
@click.option(
    "--scan-rows",
    type=click.IntRange(min=0),
    default=100_000,
    show_default=True,
    help="Rows of the benchmark file written as text and as Parquet to compare Athena's bytes scanned (0: skip).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
def cost(rows: int, source: Path, scan_rows: int, as_json: bool) -> None:
    """Estimate the AWS bill of one file of ROWS rows from the requests a benchmark run measured, and what Athena
    scans of it as text and as Parquet."""
    from pipeline.tools.cost.model import estimate

    if not source.exists():
        raise PipelineError(f"{source} does not exist: run `pipeline bench` first (or pass --from)")
    bench = json.loads(source.read_text())
    result = estimate(bench, rows)
    if scan_rows:
        from pipeline.runtime.contract import load_contract
        from pipeline.tools.bench.run import SEED, default_page_rows
        from pipeline.tools.cost import scan

        page_rows = int(bench.get("page_rows") or default_page_rows(int(bench.get("rows") or rows)))
        measured = scan.sample(scan_rows, SEED, min(page_rows, scan_rows), load_contract("orders"))
        valid_share = int(bench.get("valid") or 0) / int(bench.get("rows") or 1) or measured["rows"] / scan_rows
        result["scan"] = scan.priced(measured, round(rows * valid_share))
    if as_json:
        emit_json(result)
    else:
        console.print(cost_table(result))
        if "scan" in result:
            from pipeline.tools.cost.scan import scan_table

            console.print(scan_table(result["scan"]))
