"""Rendering for people (rich tables) and for scripts (JSON), in one place."""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def emit_json(data: Any, indent: int | None = 2) -> None:
    """Write ``data`` as JSON on stdout (``indent=None``: on one line)."""
    sys.stdout.write(json.dumps(data, indent=indent, default=str) + "\n")
    sys.stdout.flush()


_LEVEL_STYLE = {"ERROR": "red", "CRITICAL": "red", "WARNING": "yellow", "DEBUG": "dim"}


def show_log_lines(lines: list[Any], as_json: bool, streaming: bool = False) -> None:
    """`time function LEVEL message {fields}` per log line (`cli.logs.LogLine`), escaped; or JSON: a list,
    or (``streaming``, as `--follow` prints them) one object a line."""
    if as_json and not streaming:
        emit_json([line.as_dict() for line in lines])
        return
    for line in lines:
        if as_json:
            emit_json(line.as_dict(), indent=None)
            continue
        style = _LEVEL_STYLE.get(line.level, "")
        level = f"[{style}]{line.level:<7}[/]" if style else f"{line.level:<7}"
        extra = {k: v for k, v in line.fields.items() if k not in _LOG_NOISE}
        shown = f" {json.dumps(extra, default=str)}" if extra else ""
        console.print(
            f"{line.time[11:23]} [bold]{escape(line.function):<13}[/] {level} {escape(line.message)}{escape(shown)}",
            soft_wrap=True,
            highlight=False,
        )


# Powertools' fields every line repeats: the function's identity and the request, not news about the job
_LOG_NOISE = {
    "location",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "sampling_rate",
    "xray_trace_id",
}


def jobs_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table(title="Jobs", show_lines=False)
    for name in ("job", "file", "dataset", "status", "rows in", "valid", "rejected", "pages", "duration"):
        table.add_column(name, no_wrap=True)
    table.add_column("error", overflow="fold", ratio=1)
    for job in jobs:
        pages = f"{job.get('pages_done', 0)}/{job.get('pages_total', '?')}"
        status = job.get("status", "?")
        colour = {"COMPLETE": "green", "FAILED": "red"}.get(status, "yellow")
        table.add_row(
            job.get("job_id", "")[:12],
            job.get("key", "").rsplit("/", 1)[-1],
            job.get("dataset", ""),
            f"[{colour}]{status}[/]",
            str(job.get("rows_input", "")),
            str(job.get("rows_valid", "")),
            str(job.get("rows_rejected", "")),
            pages,
            f"{job['duration_s']:.1f}s" if job.get("duration_s") is not None else "",
            (job.get("cause") or "")[:80],
        )
    return table


def rows_table(columns: list[str], rows: list[tuple[Any, ...]], title: str = "") -> Table:
    table = Table(title=title or None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    return table


def mapping_table(data: dict[str, Any], title: str = "") -> Table:
    table = Table(title=title or None, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, default=str))
    return table


# ------------------------------------------------------------------ what the commands show


def show_mapping(data: dict[str, Any], title: str, as_json: bool) -> None:
    """Stack outputs and other flat mappings: a two-column table, or JSON."""
    emit_json(data) if as_json else console.print(mapping_table(data, title))


def show_jobs(jobs: list[dict[str, Any]], as_json: bool) -> None:
    emit_json(jobs) if as_json else console.print(jobs_table(jobs))


def show_job(job: dict[str, Any], pages: list[dict[str, Any]], as_json: bool) -> None:
    """One job with its pages (the first 50 in the table)."""
    if as_json:
        emit_json({**job, "pages": pages})
        return
    shown = {k: v for k, v in job.items() if k != "cursor"} | {"executions": sorted(job.get("executions") or [])}
    console.print(mapping_table(shown, f"Job {job['job_id']}"))
    table = rows_table(
        ["page", "status", "lines from", "rows in", "valid", "rejected", "rejects", "error"],
        [
            (
                p.get("page"),
                p.get("status"),
                p.get("first_line", ""),
                p.get("rows_input"),
                p.get("rows_valid"),
                p.get("rows_rejected"),
                p.get("rejects_key") or "",
                (p.get("last_error") or "")[:60],
            )
            for p in pages[:50]
        ],
        f"Pages ({len(pages)})",
    )
    console.print(table)


def _progress_line(jobs: list[dict[str, Any]], started: float) -> str:
    done = sum(int(j.get("pages_done") or 0) for j in jobs)
    total = sum(int(j.get("pages_total") or j.get("pages_published") or 0) for j in jobs)
    rows = sum(int(j.get("rows_input") or 0) for j in jobs)
    elapsed = max(time.monotonic() - started, 1e-6)
    states = ", ".join(sorted({str(j.get("status")) for j in jobs}))
    return (
        f"{len(jobs)} job(s) [{states}] pages {done}/{total or '?'}, {rows:,} rows, "
        f"{rows / elapsed:,.0f} rows/s, {elapsed:.0f}s"
    )


def watching(as_json: bool, wait: Callable[[Callable[[list[dict[str, Any]]], None]], list[dict[str, Any]]]) -> Any:
    """Run ``wait(on_update)`` showing the jobs' progress on a status line (nothing with ``as_json``)."""
    if as_json:
        return wait(lambda jobs: None)
    started = time.monotonic()
    with console.status("waiting for jobs...") as status:
        return wait(lambda jobs: status.update(_progress_line(jobs, started)))


def show_query(columns: list[str], rows: list[tuple[Any, ...]], as_json: bool, as_csv: bool) -> None:
    """A query's result: a table, JSON objects, or CSV with a header."""
    if as_json:
        emit_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        console.print(rows_table(columns, rows))


def show_executions(items: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(items)
        return
    console.print(
        rows_table(
            ["name", "status", "file", "start", "duration", "pages"],
            [
                (
                    e["name"],
                    e["status"],
                    e["file"].rsplit("/", 1)[-1],
                    e["start"][:19],
                    f"{e['duration_s']:.1f}s" if e["duration_s"] is not None else "running",
                    f"{e['pages_done'] or 0}/{e['pages_total'] or '?'}",
                )
                for e in items
            ],
            "Executions",
        )
    )


def show_timeline(data: dict[str, Any], as_json: bool) -> None:
    """One execution state by state (the paging loop summarised)."""
    if as_json:
        emit_json(data)
        return
    console.print(f"[bold]{data['name']}[/] {data['status']} ({data['events']} history events)")
    if data.get("error"):
        console.print(f"[red]{data['error']}[/]: {data.get('cause')}")
    console.print(
        rows_table(
            ["state", "status", "duration", "detail"],
            [
                (
                    s["state"],
                    s["status"],
                    f"{s.get('duration_s') or 0:.2f}s",
                    f"{s['iterations']} iterations"
                    if "iterations" in s
                    else (s.get("error") or "") + (f" {str(s.get('output'))[:80]}" if s.get("output") else ""),
                )
                for s in data["states"]
            ],
        )
    )


def show_reconciliation(result: Any, as_json: bool) -> None:
    """A `pipeline.tools.operate.reconcile.Reconciliation`: the counts compared and every difference."""
    if as_json:
        emit_json({"job_id": result.job_id, "ok": result.ok, "counts": result.counts, "problems": result.problems})
        return
    if result.counts:  # none when the job has nothing to compare yet
        console.print(mapping_table(result.counts, f"Reconciliation of {result.job_id}"))
    for problem in result.problems:
        console.print(f"[red]✗[/] {problem}")
    if result.ok:
        console.print("[green]✓ reconciled[/]")


def show_redriven(actions: list[dict[str, Any]], jobs: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json({"redriven": actions, "jobs": jobs})
        return
    if not actions:
        console.print("nothing to redrive")
    for action in actions:
        console.print(f"{action['job_id']}: {action['action']} — {action['detail']}")
    if jobs:
        console.print(jobs_table(jobs))


def show_swept(strays: list[Any], jobs: list[dict[str, Any]], as_json: bool) -> None:
    """What `pipeline sweep` handed over (`pipeline.tools.operate.sweep.Stray`), and the jobs waited for."""
    if as_json:
        emit_json({"swept": [s.as_dict() for s in strays], "jobs": jobs})
        return
    if not strays:
        console.print("nothing to sweep: every object version has a job that is finished or moving")
    else:
        console.print(
            rows_table(
                ["job", "key", "version", "found", "last activity", "action"],
                [(s.job_id[:12], s.key, s.version_id, s.reason, s.last_activity, s.action) for s in strays],
                f"Swept ({len(strays)})",
            )
        )
    if jobs:
        console.print(jobs_table(jobs))


def show_demo(demo: dict[str, Any], columns: list[str], rows: list[tuple[Any, ...]], as_json: bool) -> None:
    """The demo's jobs, the latest days of orders and the count Athena sees."""
    if as_json:
        query = [dict(zip(columns, r, strict=True)) for r in rows]
        emit_json(
            {"jobs": demo["jobs"], "query": query, "athena_rows": demo["athena_rows"], "seconds": demo["seconds"]}
        )
        return
    console.print(jobs_table(demo["jobs"]))
    console.print(rows_table(columns, rows, "Athena: latest days of orders"))
    console.print(f"Athena count(*) over orders: {demo['athena_rows']:,}; demo took {demo['seconds']:.1f}s")


def warn(message: str) -> None:
    """`warning: <message>` on stderr."""
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def progress_printer(quiet: bool = False) -> Callable[[str], None]:
    """A progress callback printing each line on stderr (or nothing)."""
    return (lambda line: None) if quiet else (lambda line: err.print(line))


# ------------------------------------------------------------------ schema infer, check, diff


def show_draft(
    draft: Any,
    path: Path,
    target: Path | None,
    fixed_copy: Path | None,
    copied: int | None,
    schemas: Path,
    as_json: bool,
) -> None:
    """`schema infer`'s draft contract (`pipeline.tools.schema.infer`) with its evidence, and what was written where."""
    if as_json:
        emit_json(
            {
                "dataset": draft.dataset,
                "contract": draft.document(),
                "columns": [
                    {
                        "column": c.name,
                        "header": c.source,
                        "type": c.spec()["type"],
                        "nulls": c.nulls,
                        "distinct": c.distinct,
                        "examples": c.examples,
                        "why": c.why,
                    }
                    for c in draft.columns
                ],
                "sampled_rows": draft.sample.rows,
                "estimated_rows": draft.sample.estimated_rows,
                "primary_key": {"columns": draft.primary_key, "evidence": draft.key_evidence},
                "partition": {"spec": draft.partition, "evidence": draft.partition_evidence},
                "dynamodb": {"store": draft.dynamodb, "evidence": draft.dynamodb_evidence},
                "renamed": draft.renamed,
                "warnings": draft.warnings,
                "sample_rejects": draft.sample_rejects,
                "written": str(target) if target else None,
                "fixed_copy": str(fixed_copy) if fixed_copy is not None else None,
            }
        )
        return
    sample = draft.sample
    seen = (
        f"all {sample.head_rows:,} rows"
        if sample.complete
        else f"{sample.rows:,} rows: the first {sample.head_rows:,} and {sample.spread_rows:,} from "
        f"{sample.spread_blocks} blocks spread through the file (about {sample.estimated_rows:,} rows in all)"
    )
    table = rows_table(
        ["column", "type", "nulls", "distinct", "examples", "why"],
        [
            (
                c.name if c.name == c.source else f"{c.name} (header: {c.source!r})",
                _type_label(c),
                f"{c.nulls:,}",
                f"{c.distinct:,}",
                ", ".join(repr(e)[:30] for e in c.examples),
                c.why,
            )
            for c in draft.columns
        ],
        f"Draft contract for dataset {draft.dataset!r}, from {seen}",
    )
    console.print(table)
    console.print(f"[bold]primary key[/] {', '.join(draft.primary_key)}: {escape(draft.key_evidence)}")
    partition = draft.partition
    label = f"{partition['column']} by {partition['granularity']} as {partition['name']}=" if partition else "none"
    console.print(f"[bold]partition[/] {label}: {escape(draft.partition_evidence)}")
    console.print(f"[bold]DynamoDB[/] {'yes' if draft.dynamodb else 'no'}: {escape(draft.dynamodb_evidence)}")
    console.print(f"[bold]null spellings seen[/] {draft.null_values}")
    if draft.renamed:
        console.print(
            rows_table(["header name", "column"], list(draft.renamed.items()), "Renamed (not valid Athena/Glue names)")
        )
        console.print("header the files must carry: " + escape(",".join(c.name for c in draft.columns)))
    for warning in draft.warnings:
        console.print(f"[yellow]![/] {escape(warning)}")
    if draft.sample_rejects:
        console.print(
            "[yellow]![/] the draft still rejects sampled rows: "
            + escape("; ".join(f"{rule} ({n:,})" for rule, n in draft.sample_rejects.items()))
        )
    if copied is not None:
        console.print(f"wrote {fixed_copy} ({copied:,} bytes) with the contract's header")
    if target is not None:
        where = "" if target.parent == schemas else f" --schemas {target.parent}"
        checked = fixed_copy if fixed_copy is not None else path
        console.print(f"wrote {target}; next: pipeline schema check {checked} --dataset {draft.dataset}{where}")
    else:
        console.print(f"nothing written: pass --write (to {schemas / (draft.dataset + '.schema.json')}) or --out PATH")


def _type_label(column: Any) -> str:
    from pipeline.tools.schema.infer import KIND_LABEL

    label = KIND_LABEL.get(column.kind, column.kind)
    if column.with_offset is False:
        label += " (no offset)"
    if column.enum is not None:
        label += f" enum({len(column.enum)})"
    elif column.max_length is not None:
        label += f" ≤{column.max_length}"
    return label + (" | null" if column.nullable else "")


def show_check(report: Any, with_lines: bool, as_json: bool) -> None:
    """`schema check`'s report (`pipeline.tools.schema.check`): what the pipeline would do with the file."""
    if as_json:
        emit_json(report.as_dict(lines=with_lines))
        return
    summary = {
        "file": report.file,
        "dataset": report.dataset,
        "contract": report.contract,
        "status": report.status,
        "mode": f"{report.mode}, {report.pages} page(s)",
        "rows": f"{report.rows_input:,} in, {report.rows_valid:,} valid, {report.rows_rejected:,} rejected",
        "seconds": f"{report.seconds:.2f}",
    }
    if report.failed:
        summary["cause"] = report.failed
    console.print(mapping_table(summary, "What the pipeline would do"))
    if report.rejects:
        console.print(
            rows_table(
                ["rule", "records", "first lines", "first record"],
                [
                    (
                        r.rule,
                        f"{r.count:,}",
                        ", ".join(str(e["line"]) for e in r.examples),
                        repr(r.examples[0]["record"])[:80],
                    )
                    for r in sorted(report.rejects.values(), key=lambda r: -r.count)
                ],
                "Rejects by rule (a record breaking several rules counts under each)",
            )
        )
    if report.partitions:
        shown = list(report.partitions.items())
        rows = [(value or "(unpartitioned)", f"{count:,}") for value, count in shown[:20]]
        if len(shown) > 20:
            rows.append((f"... and {len(shown) - 20} more", f"{sum(c for _, c in shown[20:]):,}"))
        console.print(rows_table(["partition", "rows"], rows, f"Partitions written ({len(shown)})"))
    if report.store_in_dynamodb and report.rows_valid:
        console.print(
            f"DynamoDB: {report.dynamodb_items:,} items written, {report.dynamodb_distinct_keys:,} distinct keys; "
            f"first keys: {', '.join(report.dynamodb_key_examples)}"
        )
    elif not report.store_in_dynamodb:
        console.print("DynamoDB: not stored (x-dynamodb false)")


def show_diff(stage: str, diffs: list[Any], as_json: bool) -> None:
    """`schema diff`: every change of every dataset against the stage (`pipeline.tools.schema.evolve.plan`)."""
    from pipeline.tools.schema.diff import Level

    if as_json:
        emit_json(
            {
                "stage": stage,
                "deployed": bool(diffs),
                "datasets": [
                    {
                        "dataset": d.dataset,
                        "status": d.status,
                        "level": str(d.level),
                        "ways_forward": d.ways_forward(),
                        "changes": [c.as_dict() for c in d.changes],
                    }
                    for d in diffs
                ],
            }
        )
    elif not diffs:
        console.print(f"stage {stage} has no stack yet: every dataset is new")
    else:
        rows = [(d.dataset, c.column or "", c.what, str(c.level), c.detail) for d in diffs for c in d.changes]
        console.print(rows_table(["dataset", "column", "change", "level", "detail"], rows, f"Contracts vs {stage}"))
        for d in diffs:
            verdict = {
                Level.SAFE: "[green]applied by deploy[/]",
                Level.STRICTER: "[yellow]refused unless allowed[/]",
                Level.UNSAFE: "[red]refused[/]",
            }[d.level]
            console.print(f"{d.dataset} ({d.status}): {verdict}" + (f": {escape(d.ways_forward())}" if d.level else ""))


# ------------------------------------------------------------------ cost, local cloud


def cost_table(estimate: dict[str, Any]) -> Table:
    """`pipeline cost`'s estimate (`pipeline.tools.cost.model.estimate`) as a priced bill."""
    table = Table(
        title=f"Estimated AWS cost of one {estimate['rows']:,}-row file "
        f"({estimate['region']}, prices of {estimate['prices_date']})"
    )
    for column in ("item", "quantity", "unit", "USD", "note"):
        table.add_column(column, justify="right" if column in ("quantity", "USD") else "left")
    for line in estimate["lines"]:
        table.add_row(line["item"], f"{line['quantity']:,.1f}", line["unit"], f"{line['usd']:.6f}", line["note"])
    ratio = estimate["ratio_to_floor"]
    verdict = "[green]met[/]" if ratio is not None and ratio <= estimate["target_ratio"] else "[red]not met[/]"
    table.add_section()
    table.add_row("total", "", "", f"{estimate['total_usd']:.6f}", "")
    table.add_row("DynamoDB write floor", "", "", f"{estimate['floor_usd']:.6f}", "")
    table.add_row(
        "overhead on top of the floor",
        "",
        "",
        f"{estimate['overhead_usd']:.6f}",
        f"total / floor = {ratio:.3f} (target ≤ {estimate['target_ratio']}: {verdict})" if ratio else "",
    )
    table.add_row(
        "per million rows",
        "",
        "",
        f"{estimate['per_million_rows_usd']:.4f}",
        f"floor {estimate['floor_per_million_rows_usd']:.4f}",
    )
    return table


QUIET_S = 10.0  # without a terminal, a progress line at most this often (a log stays readable)


class Ticker:
    """Shows `what (N s)` while the CLI waits: a spinner on a terminal, a line now and then otherwise."""

    def __init__(self) -> None:
        self._status: Any = None
        self._printed = ("", 0.0)

    def __enter__(self) -> Ticker:
        if err.is_terminal:
            self._status = err.status("")
            self._status.__enter__()
        return self

    def __call__(self, what: str, seconds: float) -> None:
        text = f"{what} ({seconds:.0f} s)"
        if self._status is not None:
            self._status.update(escape(text))
            return
        last, at = self._printed
        now = time.monotonic()
        if seconds >= 2 and ((what != last and now - at >= 1.0) or now - at >= QUIET_S):
            err.print(escape(text), soft_wrap=True)
            self._printed = (what, now)

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)


def local_state(state: dict[str, Any], capacity: dict[str, Any]) -> dict[str, str]:
    """The saved state and the memory figures of `ops.local_status`, for people."""
    saved = "nothing yet"
    if state.get("saved_generation") is not None:
        saved = f"generation {state['saved_generation']} at {str(state.get('saved_at') or '?').replace('T', ' ')}"
    pending = state.get("changes_since_saved")
    shown = {"saved state": saved}
    if pending is not None:
        shown["changes since"] = f"{pending:,}" if pending else "none (a kill now loses nothing)"
    if capacity.get("server_resident_bytes"):
        shown["memory"] = (
            f"{capacity['server_resident_bytes'] / 1e9:.2f} GB for {capacity['dynamodb_items']:,} DynamoDB items; "
            f"{capacity['memory_available_bytes'] / 1e9:.1f} GB available on this machine"
        )
        shown["room for"] = f"about {capacity['more_rows_that_fit']:,} more rows with DynamoDB on"
    return shown


def show_artefacts(
    platform: str, runtime: str, arch: str, rows: list[dict[str, Any]], pins: dict[str, str], as_json: bool
) -> None:
    """`pipeline package`'s artefacts with their sizes and hashes, and the layer's pins."""
    if as_json:
        emit_json({"runtime": runtime, "arch": arch, "pins": pins, "artefacts": rows})
        return
    table = rows_table(
        ["artefact", "size", "sha256"],
        [(r["file"], f"{r['bytes'] / 1024:,.1f} KiB", r["sha256"]) for r in rows],
        f"Lambda artefacts for {platform}",
    )
    console.print(table)
    console.print("layer pins: " + ", ".join(f"{k}=={v}" for k, v in pins.items()))
