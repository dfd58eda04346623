"""Ratios and targets of a benchmark run, as a rich table and as a PNG chart a person reads at a glance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

# issue 16's targets for the default suite (this 2-core machine, ratios measured in one run)
FLOOR_TARGET = 0.9  # end to end / the DynamoDB write floor
S3_PATH_TARGET = 2.0  # the S3 output path (one core) / DuckDB
PER_CORE_TARGET = 500_000  # parse + validate + transform, rows/s on one core
COST_TARGET = 1.1  # estimated AWS cost / the DynamoDB write floor


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def evaluate(result: dict[str, Any]) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """The ratios of the run (pipeline / limit, pipeline / peer) and every target of the issue with its verdict."""
    run, refs = result["pipeline"], result["references"]
    peer = refs["peer"]
    floor_rate = refs["dynamodb_floor"]["items_per_s"]
    ratios = {
        "pipeline_to_dynamodb_floor": _ratio(run["rows_per_s"], floor_rate),
        "s3_path_to_duckdb": _ratio(refs["in_process"]["s3_path_wall_s"], refs["duckdb"]["seconds"]),
        "pipeline_to_peer": _ratio(run["rows_per_s"], peer.get("rows_per_s")),
        "cost_to_dynamodb_floor": _ratio(result["cost"]["total_usd"], result["cost"]["floor_usd"]),
    }
    per_core = refs["in_process"]["parse_validate_transform_rows_per_s"]
    targets = [
        _target("end to end / DynamoDB floor", ratios["pipeline_to_dynamodb_floor"], ">=", FLOOR_TARGET),
        _target("S3 output path / DuckDB", ratios["s3_path_to_duckdb"], "<=", S3_PATH_TARGET),
        _target("end to end / awswrangler peer", ratios["pipeline_to_peer"], ">", 1.0),
        _target("parse+validate+transform rows/s per core", per_core, ">=", PER_CORE_TARGET),
        _target("estimated cost / DynamoDB write floor", ratios["cost_to_dynamodb_floor"], "<=", COST_TARGET),
    ]
    for name, cold in result["cold_start"].items():
        targets.append(_target(f"cold-start import {name} (ms)", cold["median_ms"], "<=", cold["limit_ms"]))
    return ratios, targets


def _target(name: str, value: float | None, op: str, limit: float) -> dict[str, Any]:
    met = None
    if value is not None:
        met = {">=": value >= limit, "<=": value <= limit, ">": value > limit}[op]
    return {"target": name, "value": value, "goal": f"{op} {limit:,g}", "met": met}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value < 100:
        return f"{value:.2f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


def _rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str, bool | None]]:
    """(measure, pipeline, reference, ratio, goal, met) for every line of the ratio table: the default suite's,
    then those of the other suites that ran."""
    rows = _default_rows(result) if "pipeline" in result else []
    for line in result.get("suite_rows", []):
        goal = line["goal"]
        rows.append((line["measure"], line["pipeline"], line["reference"], _fmt(line["ratio"]), goal, line["met"]))
    return rows


def _default_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str, str, bool | None]]:
    run, refs = result["pipeline"], result["references"]
    floor, peer, local = refs["dynamodb_floor"], refs["peer"], refs["in_process"]
    by_name = {t["target"]: t for t in result["targets"]}
    rows: list[tuple[str, str, str, str, str, bool | None]] = []

    def row(measure: str, value: str, reference: str, target: str, ratio: Any = None) -> None:
        verdict = by_name.get(target, {})
        rows.append((measure, value, reference, _fmt(ratio), verdict.get("goal", ""), verdict.get("met")))

    rows_s = f"{run['rows_per_s']:,} rows/s"
    row(
        "end to end (upload → job COMPLETE)",
        f"{run['end_to_end_s']:.1f} s, {rows_s}, {run['pages']} pages",
        f"raw DynamoDB BatchWriteItem floor {floor['items_per_s']:,} items/s ({floor['threads']} writers)",
        "end to end / DynamoDB floor",
        result["ratios"]["pipeline_to_dynamodb_floor"],
    )
    if "rows_per_s" in peer:
        peer_text = f"awswrangler {peer['rows_per_s']:,} rows/s ({peer['seconds']:.1f} s)"
    else:
        peer_text = f"awswrangler not run ({peer.get('skipped')})"
    row("end to end vs peer", rows_s, peer_text, "end to end / awswrangler peer", result["ratios"]["pipeline_to_peer"])
    row(
        "S3 output path: parse, validate, render, write (one core)",
        f"{local['s3_path_wall_s']:.2f} s",
        f"DuckDB read + day-partitioned CSV {refs['duckdb']['seconds']:.2f} s",
        "S3 output path / DuckDB",
        result["ratios"]["s3_path_to_duckdb"],
    )
    row(
        "parse + validate + transform (one core)",
        f"{local['parse_validate_transform_rows_per_s']:,} rows/s",
        f"parse {local['parse_rows_per_s']:,}, validate {local['validate_rows_per_s']:,}, "
        f"transform {local['transform_rows_per_s']:,} rows/s",
        "parse+validate+transform rows/s per core",
    )
    cost = result["cost"]
    row(
        "estimated AWS cost per million rows",
        f"${cost['per_million_rows_usd']:.3f}",
        f"DynamoDB write floor ${cost['floor_per_million_rows_usd']:.3f}",
        "estimated cost / DynamoDB write floor",
        result["ratios"]["cost_to_dynamodb_floor"],
    )
    for name, cold in result["cold_start"].items():
        heavy = ", ".join(f"{k} {v}" for k, v in cold["heaviest_imports_ms"].items())
        row(f"cold-start import {name}", f"{cold['median_ms']} ms", f"ms in: {heavy}", f"cold-start import {name} (ms)")
    return rows


def _scope(result: dict[str, Any]) -> str:
    return ", ".join([f"{result['rows']:,} rows", *(f"suite {name}" for name in result.get("suites", []))])


def ratio_table(result: dict[str, Any]) -> Table:
    """One table: each measure, its reference, the ratio and the target."""
    table = Table(title=f"pipeline bench: {_scope(result)}, {result['machine']['cpus']} cores")
    for column in ("measure", "pipeline", "reference", "ratio", "target", "met"):
        table.add_column(column, justify="left" if column in ("measure", "reference") else "right")
    for measure, value, reference, ratio, goal, met in _rows(result):
        verdict = "" if met is None else "[green]yes[/]" if met else "[red]no[/]"
        table.add_row(measure, value, reference, ratio, goal, verdict)
    return table


def markdown(result: dict[str, Any]) -> str:
    """The ratio table and the stage split as Markdown, for the README."""
    machine = result["machine"]
    pages = f", {result['page_rows']:,} rows a page" if "page_rows" in result else ""
    size = f" ({result['file_mb']} MB)" if "file_mb" in result else ""
    after = f" (at the end {machine['load_average_after']})" if "load_average_after" in machine else ""
    lines = [
        f"Run of {result['when'][:10]}: {_scope(result).replace(' rows', ' rows' + size, 1)}, {machine['cpus']} "
        f"cores, load average {machine.get('load_average', '?')}{after}, MiniStack {machine['ministack']}, "
        f"pyarrow {machine['pyarrow']}{pages}.",
        "",
        "| measure | pipeline | reference | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for measure, value, reference, ratio, goal, met in _rows(result):
        verdict = "" if met is None else "yes" if met else "**no**"
        goal = goal.replace(">=", "≥").replace("<=", "≤")
        lines.append(f"| {measure} | {value} | {reference} | {ratio} | {goal} | {verdict} |")
    if "pipeline" not in result:
        return "\n".join(lines) + "\n"
    run = result["pipeline"]
    stages = ", ".join(f"{k} {v}" for k, v in run["stages_s"].items())
    memory = ", ".join(
        f"{name} {fn.get('peak_rss_mb', '?')} MB" for name, fn in sorted(run["lambda"].items()) if fn.get("invocations")
    )
    requests = ", ".join(f"{k} {v:,}" for k, v in run["requests"]["by_service"].items())
    lines += [
        f"| stage seconds, summed over pages | {stages} | | | | |",
        f"| peak memory per Lambda worker | {memory} | | | | |",
        f"| AWS requests by the Lambdas | {requests}; "
        f"{run['stepfunctions']['state_transitions']} state transitions | | | | |",
    ]
    return "\n".join(lines) + "\n"


def stage_table(result: dict[str, Any]) -> Table:
    """Per-stage seconds summed over pages, Lambda invocations with memory, and AWS requests by service."""
    run = result["pipeline"]
    table = Table(title="Where the time and the requests go")
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("stage seconds (summed over pages)", ", ".join(f"{k} {v}" for k, v in run["stages_s"].items()))
    for name, fn in sorted(run["lambda"].items()):
        table.add_row(
            f"λ {name}",
            f"{fn.get('invocations', 0)} invocations, {fn.get('duration_s', 0):.1f} s, "
            f"{fn.get('memory_mb', '?')} MB configured, peak RSS {fn.get('peak_rss_mb', '?')} MB",
        )
    requests = run["requests"]
    table.add_row("AWS requests by service", ", ".join(f"{k} {v:,}" for k, v in requests["by_service"].items()))
    sfn = run["stepfunctions"]
    table.add_row("Step Functions", f"{sfn['executions']} executions, {sfn['state_transitions']} state transitions")
    return table


def write_chart(result: dict[str, Any], path: Path) -> None:
    """A PNG: seconds per million rows of the pipeline and its references (log scale), and the stage split."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run, refs = result["pipeline"], result["references"]
    million = 1e6 / result["rows"]
    bars = {
        "pipeline, end to end": run["end_to_end_s"] * million,
        "DynamoDB floor (raw BatchWriteItem)": 1e6 / refs["dynamodb_floor"]["items_per_s"],
    }
    if "rows_per_s" in refs["peer"]:
        bars["awswrangler peer"] = 1e6 / refs["peer"]["rows_per_s"]
    bars["pipeline S3 path, one core"] = refs["in_process"]["s3_path_wall_s"] * million
    bars["DuckDB read + partitioned CSV"] = refs["duckdb"]["seconds"] * million
    stages = {k: v * million for k, v in run["stages_s"].items()}

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
    colours = ["#d62728" if k.startswith("pipeline") else "#7f7f7f" for k in bars]
    left.barh(list(bars)[::-1], list(bars.values())[::-1], color=colours[::-1])
    left.set_xscale("log")
    left.set_xlabel("seconds per million rows (log scale, shorter is faster)")
    left.set_title("Pipeline against its limits and its peer")
    for y, value in enumerate(list(bars.values())[::-1]):
        left.text(value, y, f" {value:,.1f} s", va="center", fontsize=9)
    left.set_xlim(right=max(bars.values()) * 8)

    right.barh(list(stages)[::-1], list(stages.values())[::-1], color="#1f77b4")
    right.set_xlabel("seconds per million rows, summed over pages and invocations")
    right.set_title("Where the pipeline's time goes")
    for y, value in enumerate(list(stages.values())[::-1]):
        right.text(value, y, f" {value:,.1f}", va="center", fontsize=9)
    right.set_xlim(right=max(stages.values() or [1]) * 1.25)

    ratios = result["ratios"]
    summary = [f"{result['rows']:,} rows, {result['machine']['cpus']} cores, {result['when'][:10]}"]
    for key, label in (("pipeline_to_dynamodb_floor", "floor"), ("pipeline_to_peer", "peer")):
        if ratios.get(key) is not None:
            summary.append(f"pipeline / {label} = {ratios[key]:.2f}")
    fig.suptitle("pipeline bench — " + "; ".join(summary), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
