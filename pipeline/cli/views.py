"""Rendering for people (rich tables) and for scripts (JSON), in one place."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def emit_json(data: Any) -> None:
    """Write ``data`` as JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


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
