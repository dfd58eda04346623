"""The committed ASL is exactly what the Python authoring renders: a change to one without the other fails."""

from __future__ import annotations

import json

from pipeline.tools.authoring.batch import ASL_PATH, build, render


def test_committed_asl_matches_the_sdk_authoring() -> None:
    committed = json.loads(ASL_PATH.read_text())
    assert render() == committed, "statemachines/batch.asl.json drifted: run `pipeline statemachine render`"


def test_every_task_retries_and_every_failing_task_is_caught() -> None:
    states = render()["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    assert tasks and all(s.get("Retry") for s in tasks.values())
    uncaught = {name for name, s in tasks.items() if not s.get("Catch")}
    assert uncaught == {"Mark job failed", "Announce job completed"}  # the failure path itself, and a best-effort event


def test_the_graph_starts_at_the_pager_and_loops_through_the_choice() -> None:
    definition = json.loads(build().to_json())
    assert definition["StartAt"] == "Page through file"
    choice = definition["States"]["More pages to publish?"]
    assert choice["Default"] == "Page through file"
