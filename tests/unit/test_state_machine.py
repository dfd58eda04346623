"""Static checks of the batch state machine definition (Amazon States Language)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO

DEFINITION = REPO / "statemachines" / "batch.asl.json"
FAIL_RECORDER = "Mark job failed"
NO_CATCH = {"Mark job failed", "Announce job completed"}


@pytest.fixture(scope="module")
def machine() -> dict:
    return json.loads(DEFINITION.read_text(encoding="utf-8"))


def _tasks(machine: dict) -> dict[str, dict]:
    return {name: state for name, state in machine["States"].items() if state["Type"] == "Task"}


def test_definition_is_valid_json_with_a_known_start_state(machine):
    assert machine["StartAt"] in machine["States"]
    assert _tasks(machine)


def test_every_transition_targets_an_existing_state(machine):
    states = machine["States"]
    for name, state in states.items():
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", [])]
        targets += [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in states, f"{name} -> {target}"


def test_every_state_is_reachable_from_the_start(machine):
    states = machine["States"]
    seen, todo = set(), [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo += filter(None, [state.get("Next"), state.get("Default")])
        todo += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    assert seen == set(states)


def test_non_terminal_states_have_a_next_state(machine):
    for name, state in machine["States"].items():
        if state["Type"] in ("Succeed", "Fail", "Choice") or state.get("End"):
            continue
        assert "Next" in state, name


def test_every_task_retries_or_is_the_failure_recorder(machine):
    for name, state in _tasks(machine).items():
        assert state.get("Retry") or name == FAIL_RECORDER, name
        for retrier in state.get("Retry", []):
            assert retrier["ErrorEquals"]
            assert retrier.get("MaxAttempts", 3) >= 1


def test_every_task_catches_errors_except_the_last_two_steps(machine):
    for name, state in _tasks(machine).items():
        if name in NO_CATCH:
            assert "Catch" not in state, name
        else:
            assert state.get("Catch"), name


def test_catch_all_routes_to_the_failure_recorder(machine):
    for name, state in _tasks(machine).items():
        catch_all = [c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]]
        if name in NO_CATCH:
            continue
        assert catch_all, name
        assert catch_all[-1] is state["Catch"][-1], f"{name}: States.ALL must be the last catcher"
        assert catch_all[-1]["Next"] == FAIL_RECORDER
        assert catch_all[-1]["ResultPath"] == "$.error"


def test_failure_recorder_ends_in_a_fail_state(machine):
    recorder = machine["States"][FAIL_RECORDER]
    assert machine["States"][recorder["Next"]]["Type"] == "Fail"
