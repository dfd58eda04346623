"""Rendering for people (rich tables) and for scripts (JSON), in one place."""

from __future__ import annotations

import json
import sys
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


def print_log_lines(lines: Any) -> None:
    """`time function LEVEL message {fields}` per log line (`pipeline.cli.logs.LogLine`), escaped."""
    for line in lines:
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
