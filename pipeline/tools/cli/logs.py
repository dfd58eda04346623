"""`pipeline logs JOB`: every function's log lines for one job, found by the job id the handlers log as their
Powertools correlation id (`pipeline.runtime.observability.correlate`).

The same calls locally and on a stage: CloudWatch Logs `FilterLogEvents` over the log group of each function in
the stack's outputs, with the job id as a quoted term (AWS's index narrows the search; MiniStack matches it as a
substring), then each line's JSON `correlation_id` compared exactly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws

CORRELATION_FIELD = "correlation_id"  # Powertools Logger's key for `set_correlation_id`
LOOKBACK_MS = 60_000  # search from a minute before the job was received (clocks differ a little)
POLL_S = 2.0
SETTLE_S = 10.0  # --follow ends once the job is finished and this long has brought no new line (log delivery lag)


@dataclass(frozen=True)
class LogLine:
    """One log line of one function about one job."""

    timestamp: int  # ms since the epoch, CloudWatch's
    function: str  # the function's name without the stack's prefix (`processor`, `pager` ...)
    level: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)  # the rest of the Powertools JSON line
    event_id: str = ""

    @property
    def time(self) -> str:
        return datetime.fromtimestamp(self.timestamp / 1000, UTC).isoformat(timespec="milliseconds")

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "function": self.function,
            "level": self.level,
            "message": self.message,
            "fields": self.fields,
        }


def log_groups(outs: dict[str, str]) -> dict[str, str]:
    """Short function name -> log group, for every function the stack outputs (`<Name>Function` outputs)."""
    prefix = f"pipeline-{outs.get('Stage', '')}-"
    return {
        name.removeprefix(prefix): f"/aws/lambda/{name}"
        for key, name in sorted(outs.items())
        if key.endswith("Function") and isinstance(name, str)
    }


def _parse(event: dict[str, Any], function: str, job_id: str) -> LogLine | None:
    """The line when it is a Powertools JSON line correlated with ``job_id``."""
    try:
        data = json.loads(event.get("message", ""))
    except ValueError:  # START/END/REPORT and other plain lines name a request, not a job
        return None
    if not isinstance(data, dict) or data.get(CORRELATION_FIELD) != job_id:
        return None
    fields = {k: v for k, v in data.items() if k not in ("level", "message", "timestamp", CORRELATION_FIELD)}
    return LogLine(
        int(event.get("timestamp") or 0),
        function,
        str(data.get("level", "")),
        str(data.get("message", "")),
        fields,
        str(event.get("eventId", "")),
    )


def _events(group: str, job_id: str, start_ms: int) -> Iterable[dict[str, Any]]:
    pages = (
        aws.client("logs")
        .get_paginator("filter_log_events")
        .paginate(logGroupName=group, filterPattern=f'"{job_id}"', startTime=start_ms)
    )
    try:
        for page in pages:
            yield from page.get("events", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise  # a function that never ran locally has no log group yet: it has no lines either


def job_lines(outs: dict[str, str], job_id: str, start_ms: int) -> list[LogLine]:
    """Every function's lines about ``job_id`` since ``start_ms``, oldest first."""
    lines = [
        line
        for function, group in log_groups(outs).items()
        for event in _events(group, job_id, start_ms)
        if (line := _parse(event, function, job_id))
    ]
    return sorted(lines, key=lambda line: (line.timestamp, line.function))


def start_of(job: dict[str, Any]) -> int:
    """Where to start searching for ``job``'s lines: a little before it was received."""
    received = job.get("received_at") or job.get("started_at")
    if not received:
        return 0
    return int(datetime.fromisoformat(str(received).replace("Z", "+00:00")).timestamp() * 1000) - LOOKBACK_MS


def follow(
    outs: dict[str, str],
    job_id: str,
    start_ms: int,
    emit: Callable[[list[LogLine]], None],
    finished: Callable[[], bool],
    poll_s: float = POLL_S,
    settle_s: float = SETTLE_S,
) -> None:
    """Emit new lines as they arrive; return once the job is finished and ``settle_s`` brought nothing new."""
    seen: set[tuple[str, int, str]] = set()
    quiet_since: float | None = None
    while True:
        done = finished()  # asked before the poll: lines written before it finished are then in this poll
        fresh = [
            line
            for line in job_lines(outs, job_id, start_ms)
            if (line.event_id, line.timestamp, line.message) not in seen
        ]
        seen.update((line.event_id, line.timestamp, line.message) for line in fresh)
        if fresh:
            emit(fresh)
            start_ms = max(start_ms, fresh[-1].timestamp - LOOKBACK_MS)  # overlap: late lines keep their time
            quiet_since = None
        if done:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle_s:
                return
        time.sleep(poll_s)
