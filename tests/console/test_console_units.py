"""The console's pieces without a cloud: graph colouring, progress, rejects, the server (SQL: test_console_sql)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.runtime.messages import execution_arn
from pipeline.tools.console import graph, rows
from pipeline.tools.console.api import ConsoleApi
from pipeline.tools.console.rejects import _rows
from pipeline.tools.console.server import make_server
from pipeline.tools.operate.executions import LOOP_STATES

PAGE, MORE = LOOP_STATES
ASL: dict[str, Any] = {
    "StartAt": PAGE,
    "States": {
        PAGE: {"Type": "Task", "Next": MORE, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Mark job failed"}]},
        MORE: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.cursor.done", "BooleanEquals": True, "Next": "Wait"}],
            "Default": PAGE,
        },
        "Wait": {"Type": "Task", "Next": "Done", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Mark job failed"}]},
        "Done": {"Type": "Succeed"},
        "Mark job failed": {"Type": "Task", "Next": "Job failed"},
        "Job failed": {"Type": "Fail"},
    },
}


def _run(state: str, status: str = "SUCCEEDED", **extra: Any) -> dict[str, Any]:
    return {"state": state, "status": status, "entered": "2026-01-01T00:00:00+00:00", "duration_s": 1.0, **extra}


def _loop(iterations: int, last: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": "Paging loop",
        "iterations": iterations,
        "status": last["status"],
        "first": _run(PAGE),
        "last": last,
    }


def _statuses(timeline: dict[str, Any]) -> dict[str, str]:
    return {n["id"]: n["status"] for n in graph.build(ASL, timeline)["nodes"]}


def test_a_succeeded_execution_is_green_on_its_path_and_grey_elsewhere() -> None:
    timeline = {"status": "SUCCEEDED", "states": [_loop(3, _run(MORE)), _run("Wait"), _run("Done")]}
    built = graph.build(ASL, timeline)
    statuses = {n["id"]: n["status"] for n in built["nodes"]}
    assert statuses == {
        graph.START: "succeeded",
        PAGE: "succeeded",
        MORE: "succeeded",
        "Wait": "succeeded",
        "Done": "succeeded",
        "Mark job failed": "not_reached",
        "Job failed": "not_reached",
        graph.END: "succeeded",
    }
    page = next(n for n in built["nodes"] if n["id"] == PAGE)
    assert page["iterations"] == 3 and page["label"].endswith("× 3 iterations")
    taken = {(e["source"], e["target"]) for e in built["edges"] if e["taken"]}
    assert {(PAGE, MORE), (MORE, PAGE), (MORE, "Wait"), ("Done", graph.END)} <= taken
    assert (PAGE, "Mark job failed") not in taken
    assert built["runs"]["Wait"]["duration_s"] == 1.0


def test_a_caught_error_is_orange_and_the_fail_state_red() -> None:
    error = {"error": "PageFailed", "cause": "page 3 failed"}
    timeline = {
        "status": "FAILED",
        "states": [
            _loop(1, _run(MORE)),
            _run("Wait", "FAILED", **error),
            _run("Mark job failed"),
            _run("Job failed", "FAILED"),
        ],
    }
    statuses = _statuses(timeline)
    assert statuses["Wait"] == "caught"
    assert statuses["Mark job failed"] == "succeeded"
    assert statuses["Job failed"] == "failed"
    assert statuses["Done"] == "not_reached"
    assert statuses[graph.END] == "failed"


def test_a_retried_state_that_then_succeeded_stays_green() -> None:
    timeline = {
        "status": "SUCCEEDED",
        "states": [_loop(1, _run(MORE)), _run("Wait", error="Lambda.Unknown"), _run("Done")],
    }
    assert _statuses(timeline)["Wait"] == "succeeded"


def test_a_running_execution_shows_its_current_state_running() -> None:
    timeline = {"status": "RUNNING", "states": [_loop(2, _run(MORE)), _run("Wait", "RUNNING")]}
    statuses = _statuses(timeline)
    assert statuses["Wait"] == "running"
    assert statuses[graph.END] == "not_reached"
    aborted = _statuses({**timeline, "status": "ABORTED"})
    assert aborted["Wait"] == "failed"


def test_a_loop_cut_inside_the_pager_still_counts_the_choice() -> None:
    runs = graph.state_runs({"status": "RUNNING", "states": [_loop(4, _run(PAGE, "RUNNING"))]})
    assert runs[PAGE]["status"] == "RUNNING" and runs[MORE] == {"state": MORE, "status": "SUCCEEDED", "iterations": 3}


def test_transitions_name_choices_defaults_and_catches() -> None:
    assert graph.transitions(ASL["States"][MORE]) == [
        ("Wait", "choice", "cursor.done = true"),
        (PAGE, "default", "otherwise"),
    ]
    assert graph.transitions(ASL["States"][PAGE])[1] == ("Mark job failed", "catch", "catch")
    assert graph.transitions(ASL["States"]["Job failed"]) == [(graph.END, "end", "")]


def test_execution_arn_matches_the_cli() -> None:
    machine = "arn:aws:states:us-east-1:000000000000:stateMachine:pipeline-e2e-batch"
    assert (
        execution_arn(machine, "abc-0")
        == "arn:aws:states:us-east-1:000000000000:execution:pipeline-e2e-batch:abc-0"
    )


def test_progress_reaches_100_only_when_the_job_is_complete() -> None:
    assert rows.progress({"status": "PAGING"}) == {"done": 0, "total": None, "final": False, "percent": 0}
    assert rows.progress({"status": "PAGING", "pages_published": 2, "pages_done": 2})["percent"] == 99
    assert rows.progress({"status": "PAGING", "pages_total": 4, "pages_done": 1})["percent"] == 25
    assert rows.progress({"status": "COMPLETE", "pages_total": 4, "pages_done": 4})["percent"] == 100
    assert rows.job_row({"key": "orders/a/b.csv", "status": "FAILED"})["file"] == "b.csv"


def test_a_truncated_rejects_object_drops_its_cut_last_record() -> None:
    body = b'line,reasons,record\n5,amount: below minimum 0,"a,\nb"\n9,status: bad,"x,y'
    assert [r["line"] for r in _rows(body, complete=True)] == ["5", "9"]
    assert [r["line"] for r in _rows(body, complete=False)] == ["5"]


@pytest.fixture
def console() -> Iterator[str]:
    server = make_server(ConsoleApi({"JobsTable": "jobs"}, "unit"), 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _call(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers=headers or {}, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_server_serves_the_app_its_licences_and_info(console: str) -> None:
    status, page = _call(console + "/")
    assert status == 200 and b'src="/static/js/app.js"' in page
    for name in ("LICENSE.cytoscape", "LICENSE.cytoscape-dagre", "LICENSE.dagre", "cytoscape.esm.min.mjs"):
        assert _call(f"{console}/static/vendor/{name}")[0] == 200
    status, info = _call(console + "/api/info")
    assert status == 200 and json.loads(info)["stage"] == "unit" and json.loads(info)["allow_writes"] is False


def test_the_server_refuses_what_it_should(console: str) -> None:
    as_json = {"Content-Type": "application/json"}
    assert _call(console + "/static/../server.py")[0] == 404
    assert _call(console + "/static/%2e%2e/server.py")[0] == 404
    assert _call(console + "/api/nothing")[0] == 404
    assert _call(console + "/api/info", b"{}", as_json)[0] == 405
    assert _call(console + "/api/info", headers={"Host": "attacker.test"})[0] == 403
    status, body = _call(console + "/api/jobs/j1/redrive", b'{"confirm": "j1"}', as_json)
    assert status == 403 and b"--allow-writes" in body
    assert _call(console + "/api/query", b'{"sql": "DROP TABLE orders"}', as_json)[0] == 422
    assert (
        _call(console + "/api/query", b'{"sql": "SELECT 1"}', {**as_json, "Origin": "http://attacker.test"})[0] == 403
    )
    assert (
        _call(console + "/api/query", b"sql=SELECT 1", {"Content-Type": "application/x-www-form-urlencoded"})[0] == 400
    )
