"""The state machine as a graph: nodes and edges from its ASL definition, coloured by one execution's run."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

from pipeline.runtime import aws
from pipeline.tools.operate.executions import LOOP_STATES

START, END = "(start)", "(end)"
STOPPED_BADLY = {"FAILED", "ABORTED", "TIMED_OUT"}


def definition(state_machine_arn: str, execution: str) -> dict[str, Any]:
    """The ASL definition an execution ran with (the state machine's current one where that is unknown)."""
    sfn = aws.client("stepfunctions")
    try:
        text = sfn.describe_state_machine_for_execution(executionArn=execution)["definition"]
    except Exception:  # not every endpoint implements it; the current definition is the next best thing
        text = sfn.describe_state_machine(stateMachineArn=state_machine_arn)["definition"]
    return json.loads(text)


def _choice_label(choice: dict[str, Any]) -> str:
    if "Condition" in choice:  # JSONata
        return str(choice["Condition"])[:40]
    variable = str(choice.get("Variable", "")).removeprefix("$.")
    tests = [(k, v) for k, v in choice.items() if k not in ("Variable", "Next", "Comment")]
    if not variable or len(tests) != 1:
        return "rule"
    op, value = tests[0]
    return f"{variable} = {json.dumps(value)}" if op.endswith("Equals") else f"{variable} {op} {json.dumps(value)}"


def transitions(state: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, kind, label) of every way out of a state, ``END`` for the end of the execution."""
    out = [(c["Next"], "choice", _choice_label(c)) for c in state.get("Choices", [])]
    if "Default" in state:
        out.append((state["Default"], "default", "otherwise"))
    if "Next" in state:
        out.append((state["Next"], "next", ""))
    for catch in state.get("Catch", []):
        errors = [e for e in catch.get("ErrorEquals", []) if e != "States.ALL"]
        out.append((catch["Next"], "catch", " ".join(["catch", *errors])))
    if state.get("End") or state.get("Type") in ("Succeed", "Fail"):
        out.append((END, "end", ""))
    return out


def state_runs(timeline: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each state's (last) run from `timeline()`, the two paging-loop states with the loop's iteration count."""
    runs: dict[str, dict[str, Any]] = {}
    for entry in timeline["states"]:
        if "iterations" not in entry:
            runs[entry["state"]] = entry
            continue
        iterations = int(entry["iterations"])
        for run in (entry["first"], entry["last"]):
            runs[run["state"]] = {**run, "iterations": iterations}
        if LOOP_STATES[1] not in runs and iterations > 1:  # the Choice ran between iterations; its details are gone
            runs[LOOP_STATES[1]] = {"state": LOOP_STATES[1], "status": "SUCCEEDED", "iterations": iterations - 1}
    return runs


def _sequence(timeline: dict[str, Any]) -> list[str]:
    """The order in which states ran (the paging loop unrolled)."""
    order: list[str] = []
    for entry in timeline["states"]:
        if "iterations" not in entry:
            order.append(entry["state"])
            continue
        loop = list(LOOP_STATES) * int(entry["iterations"])
        order.extend(loop[:-1] if entry["last"]["state"] == LOOP_STATES[0] else loop)
    return order


def _status(run: dict[str, Any] | None, caught: bool, execution_status: str) -> str:
    if run is None:
        return "not_reached"
    status = str(run.get("status", "")).upper()
    if status == "RUNNING":
        return "failed" if execution_status in STOPPED_BADLY else "running"
    if caught:
        return "caught"
    return "failed" if status == "FAILED" else "succeeded"


def build(asl: dict[str, Any], timeline: dict[str, Any]) -> dict[str, Any]:
    """Nodes, edges and per-state runs for the front end; each node's status is one of
    succeeded, failed, caught (failed, then handled by a Catch), running, not_reached."""
    states: dict[str, dict[str, Any]] = asl.get("States", {})
    runs = state_runs(timeline)
    order = _sequence(timeline)
    taken = set(pairwise(order))
    if order:
        taken.add((START, order[0]))
        if timeline.get("status") != "RUNNING":
            taken.add((order[-1], END))
    execution_status = str(timeline.get("status", ""))
    nodes = [{"id": START, "label": "Start", "type": "Start", "status": "succeeded" if order else "not_reached"}]
    edges = [{"id": "e0", "source": START, "target": asl.get("StartAt", ""), "kind": "start", "label": ""}]
    for name, state in states.items():
        outs = transitions(state)
        normal = {t for t, kind, _ in outs if kind != "catch"}
        later = {b for a, b in taken if a == name}
        caught = bool(later) and not later & normal and runs.get(name, {}).get("error") is not None
        run = runs.get(name)
        node = {"id": name, "label": name, "type": state.get("Type", ""), "comment": state.get("Comment", "")}
        node["status"] = _status(run, caught, execution_status)
        if run and "iterations" in run:
            node["iterations"] = run["iterations"]
            if name == LOOP_STATES[0]:
                node["label"] = f"{name}\n× {run['iterations']} iteration{'' if run['iterations'] == 1 else 's'}"
        nodes.append(node)
        for target, kind, label in outs:
            edges.append({"id": f"e{len(edges)}", "source": name, "target": target, "kind": kind, "label": label})
    end_status = {"SUCCEEDED": "succeeded", "RUNNING": "not_reached"}.get(execution_status, "failed")
    nodes.append({"id": END, "label": "End", "type": "End", "status": end_status if order else "not_reached"})
    for edge in edges:
        edge["taken"] = (edge["source"], edge["target"]) in taken
    return {"nodes": nodes, "edges": edges, "runs": runs}
