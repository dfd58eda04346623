"""Inspect state machine executions: list them with their jobs, and turn a history into a timeline."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pipeline.runtime import aws
from pipeline.runtime.messages import JobItem

LOOP_STATES = ("Page through file", "More pages to publish?")


def _row(execution: dict[str, Any], job: JobItem) -> dict[str, Any]:
    stop = execution.get("stopDate")
    return {
        "name": execution["name"],
        "status": execution["status"],
        "job_id": job.get("job_id", ""),
        "file": job.get("file", ""),
        "start": execution["startDate"].isoformat(),
        "duration_s": _seconds(execution["startDate"], stop),
        "pages_done": job.get("pages_done", 0),
        "pages_total": job.get("pages_total") or job.get("pages_published"),
        "execution_arn": execution["executionArn"],
    }


def list_executions(state_machine_arn: str, jobs_by_id: Mapping[str, JobItem]) -> list[dict[str, Any]]:
    """Every execution of the state machine, newest first, with its job's file and page progress."""
    sfn = aws.client("stepfunctions")
    out: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        for e in page["executions"]:
            out.append(_row(e, jobs_by_id.get(e["name"].rsplit("-", 1)[0], {})))
    return sorted(out, key=lambda e: e["start"], reverse=True)


def job_executions(job: JobItem) -> list[dict[str, Any]]:
    """The executions of one job (the ARNs its pager recorded), newest first, without listing the others."""
    sfn = aws.client("stepfunctions")
    out = []
    for arn in sorted(job.get("executions") or []):
        try:
            out.append(_row(sfn.describe_execution(executionArn=arn), job))
        except sfn.exceptions.ExecutionDoesNotExist:
            continue
    return sorted(out, key=lambda e: e["start"], reverse=True)


def _seconds(start: datetime, stop: datetime | None) -> float | None:
    return round((stop - start).total_seconds(), 3) if stop else None


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _parse(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def timeline(execution_arn: str) -> dict[str, Any]:
    """The execution's states in order with input, output, duration and error; the paging loop summarised."""
    sfn = aws.client("stepfunctions")
    described = sfn.describe_execution(executionArn=execution_arn)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    states: list[dict[str, Any]] = []
    open_state: dict[str, Any] | None = None
    for event in events:
        kind, details = event["type"], _details(event)
        if kind.endswith("StateEntered"):
            open_state = {
                "state": details.get("name"),
                "entered": event["timestamp"].isoformat(),
                "input": _parse(details.get("input")),
                "status": "RUNNING",
            }
            states.append(open_state)
            entered_at = event["timestamp"]
            open_state["_t"] = entered_at
        elif kind.endswith("StateExited") and open_state is not None:
            open_state.update(
                status="SUCCEEDED",
                output=_parse(details.get("output")),
                duration_s=_seconds(open_state["_t"], event["timestamp"]),
            )
        elif kind.endswith("Failed") and open_state is not None:
            open_state.update(status="FAILED", error=details.get("error"), cause=details.get("cause"))
    for state in states:
        state.pop("_t", None)
    loop = [s for s in states if s["state"] in LOOP_STATES]
    summary = [s for s in states if s["state"] not in LOOP_STATES]
    iterations = sum(1 for s in loop if s["state"] == LOOP_STATES[0])
    if loop:
        loop_entry = {
            "state": "Paging loop",
            "iterations": iterations,
            "status": loop[-1]["status"],
            "entered": loop[0]["entered"],
            "duration_s": round(sum(s.get("duration_s") or 0 for s in loop), 3),
            "first": loop[0],
            "last": loop[-1],
        }
        position = states.index(loop[0])
        summary.insert(sum(1 for s in states[:position] if s["state"] not in LOOP_STATES), loop_entry)
    return {
        "name": described["name"],
        "status": described["status"],
        "start": described["startDate"].isoformat(),
        "stop": described.get("stopDate").isoformat() if described.get("stopDate") else None,
        "error": described.get("error"),
        "cause": described.get("cause"),
        "events": len(events),
        "states": summary,
    }
