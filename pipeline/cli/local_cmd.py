"""`pipeline local start|stop|status`: the embedded local cloud, with progress while it loads or saves state."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

import click
from rich.markup import escape

from pipeline.cli import ops
from pipeline.cli.target import resolve
from pipeline.cli.views import console, emit_json, err, mapping_table

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


def _readable(state: dict[str, Any], capacity: dict[str, Any]) -> dict[str, str]:
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


@click.group()
def local() -> None:
    """Run the embedded local cloud (MiniStack on loopback)."""


@local.command("start")
def local_start() -> None:
    """Start the local cloud (state persists in $PIPELINE_STATE_DIR, default ./.pipeline)."""
    cloud = resolve(None)
    assert cloud.local
    with Ticker() as tick:
        started = ops.start_local(cloud, lambda line: console.print(escape(line), soft_wrap=True), tick)
    if not started:
        console.print(f"local cloud already running at {cloud.local.endpoint} (state in {cloud.local.state_dir})")


@local.command("stop")
@click.option(
    "--force",
    is_flag=True,
    help="Kill it at once instead of letting it save: changes since its last checkpoint are lost.",
)
def local_stop(force: bool) -> None:
    """Stop the local cloud; it saves what changed since its last checkpoint first, however long that takes."""
    cloud = resolve(None)
    assert cloud.local
    with Ticker() as tick:
        report = cloud.local.stop(force=force, progress=tick)
    console.print(escape(report.message), soft_wrap=True)
    if report.was_running and not report.saved and not report.forced:
        sys.exit(1)


@local.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def local_status(as_json: bool) -> None:
    """Show whether the local cloud runs, its endpoint, its saved state, its size and the stack outputs."""
    cloud = resolve(None)
    assert cloud.local
    status = ops.local_status(cloud)
    if as_json:
        emit_json(status)
        return
    shown = {k: v for k, v in status.items() if k not in ("outputs", "state", "capacity", "warnings")}
    console.print(mapping_table({**shown, **_readable(status["state"], status["capacity"])}, "Local cloud"))
    if status["outputs"]:
        console.print(mapping_table(status["outputs"], "Stack outputs"))
    for warning in status["warnings"]:
        err.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
