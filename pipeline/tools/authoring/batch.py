"""The batch state machine, authored with the `stepfunctions` SDK; renders `statemachines/batch.asl.json`.

The committed ASL file is what the template deploys (no SDK at run time); a test renders this module and
fails if the two drift. Render with `pipeline statemachine render` after changing either.
The SDK lacks `ResultSelector` and `ErrorPath`/`CausePath`, so two small subclasses add them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stepfunctions.steps import Catch, Chain, Choice, ChoiceRule, Fail, Graph, Pass, Retry, Succeed, Task

ASL_PATH = Path(__file__).resolve().parents[3] / "statemachines" / "batch.asl.json"
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
COMMENT = (
    "Pages through one large upload: publish page descriptors in bounded loops, wait for every page, compact "
    "the job's output, finalise the job. Continues in a fresh execution before the 25,000-event history limit."
)


class SelectingTask(Task):
    """A Task with a `ResultSelector` (which SDK 2.3 does not know)."""

    def __init__(self, state_id: str, result_selector: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        self._result_selector = result_selector

    def to_dict(self) -> dict[str, Any]:
        rendered: dict[str, Any] = super().to_dict()
        if self._result_selector:
            rendered["ResultSelector"] = self._result_selector
        return rendered


class PathFail(Fail):
    """A Fail state taking its error and cause from the input (`ErrorPath`, `CausePath`)."""

    def __init__(self, state_id: str, error_path: str, cause_path: str, **kwargs: Any) -> None:
        super().__init__(state_id, **kwargs)
        self._paths = {"ErrorPath": error_path, "CausePath": cause_path}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), **self._paths}


def _retry_all() -> Retry:
    return Retry(error_equals=["States.ALL"], interval_seconds=2, max_attempts=3, backoff_rate=2)


def _job_steps(action: str, **payload: str) -> dict[str, Any]:
    return {"FunctionName": "${JobStepsFunctionArn}", "Payload": {"action": action, **payload}}


def build() -> Graph:
    """The state machine as an SDK graph."""
    failed = PathFail("Job failed", error_path="$.failure.error", cause_path="$.failure.cause")
    mark_failed = SelectingTask(
        "Mark job failed",
        comment="Records the error on the job so `pipeline jobs show` and `redrive` can act on it.",
        resource=LAMBDA_INVOKE,
        parameters=_job_steps("fail", **{"job_id.$": "$.job.job_id", "error.$": "$.error"}),
        result_selector={"error.$": "$.Payload.error", "cause.$": "$.Payload.cause"},
        result_path="$.failure",
    )
    mark_failed.add_retry(_retry_all())
    mark_failed.next(failed)

    def catch_all() -> Catch:
        return Catch(error_equals=["States.ALL"], result_path="$.error", next_step=mark_failed)

    page = SelectingTask(
        "Page through file",
        comment=(
            "Reads the next byte ranges of the object, cuts them at CSV record boundaries and publishes a "
            "bounded number of page descriptors per iteration."
        ),
        resource=LAMBDA_INVOKE,
        parameters={
            "FunctionName": "${PagerFunctionArn}",
            "Payload": {"job.$": "$.job", "cursor.$": "$.cursor", "execution_arn.$": "$$.Execution.Id"},
        },
        result_selector={"job.$": "$.Payload.job", "cursor.$": "$.Payload.cursor"},
        result_path="$",
    )
    page.add_retry(_retry_all())
    page.add_catch(catch_all())

    wait = Task(
        "Wait for every page",
        comment="Parks the execution until the page processors report the last page (task token callback, no polling).",
        resource=f"{LAMBDA_INVOKE}.waitForTaskToken",
        parameters=_job_steps(
            "await_pages",
            **{"job_id.$": "$.job.job_id", "pages_total.$": "$.cursor.page", "task_token.$": "$$.Task.Token"},
        ),
        result_path="$.pages",
        timeout_seconds=86400,
    )
    wait.add_retry(
        Retry(
            error_equals=["Lambda.ServiceException", "Lambda.TooManyRequestsException", "Lambda.Unknown"],
            interval_seconds=2,
            max_attempts=3,
            backoff_rate=2,
        )
    )
    wait.add_catch(catch_all())

    compact = SelectingTask(
        "Compact job output",
        comment=(
            "One row per primary key across the pages, few files per partition (ADR 10); returns done false "
            "when it stopped before its deadline, and resumes where it stopped. Returns at once if the stage does "
            "not compact."
        ),
        resource=LAMBDA_INVOKE,
        parameters={
            "FunctionName": "${CompactFunctionArn}",
            "Payload": {"job_id.$": "$.job.job_id", "retry_count.$": "$$.State.RetryCount"},
        },
        result_selector={"done.$": "$.Payload.done"},
        result_path="$.compaction",
    )
    compact.add_retry(_retry_all())
    compact.add_catch(catch_all())
    compacted = Choice("Compaction finished?")

    finalise = SelectingTask(
        "Finalise job",
        comment="Sums the page counts, registers the partitions, marks the job COMPLETE and returns its summary.",
        resource=LAMBDA_INVOKE,
        parameters=_job_steps("finalise", **{"job_id.$": "$.job.job_id"}),
        result_selector={"summary.$": "$.Payload"},
        result_path="$.result",
    )
    finalise.add_retry(_retry_all())
    finalise.add_catch(catch_all())

    announce = Task(
        "Announce job completed",
        resource="arn:aws:states:::sns:publish",
        parameters={"TopicArn": "${JobEventsTopicArn}", "Subject": "job-completed", "Message.$": "$.result.summary"},
        result_path=None,
    )
    announce.add_retry(_retry_all())

    continued = Succeed("Continued", comment="The job goes on in the next execution.")
    start_next = Task(
        "Continue in a fresh execution",
        resource="arn:aws:states:::states:startExecution",
        parameters={
            "StateMachineArn": "${StateMachineArn}",
            "Name.$": "States.Format('{}-{}', $.job.job_id, $.cursor.execution)",
            "Input.$": "$",
        },
        result_path=None,
    )
    start_next.add_retry(
        Retry(
            error_equals=["StepFunctions.ExecutionLimitExceededException", "States.TaskFailed"],
            interval_seconds=2,
            max_attempts=3,
            backoff_rate=2,
        )
    )
    start_next.add_catch(
        Catch(error_equals=["StepFunctions.ExecutionAlreadyExistsException"], result_path=None, next_step=continued)
    )
    start_next.add_catch(catch_all())
    start_next.next(continued)

    prepare = Pass(
        "Prepare continuation",
        comment="Starts the next execution of the same job at the current cursor, with a fresh history.",
        parameters={
            "job.$": "$.job",
            "cursor": {
                "offset.$": "$.cursor.offset",
                "page.$": "$.cursor.page",
                "line.$": "$.cursor.line",
                "header.$": "$.cursor.header",
                "done": False,
                "continue_in_new_execution": False,
                "iteration": 0,
                "execution.$": "States.MathAdd($.cursor.execution, 1)",
            },
        },
    )
    prepare.next(start_next)

    more = Choice("More pages to publish?")
    more.add_choice(ChoiceRule.BooleanEquals(variable="$.cursor.done", value=True), next_step=wait)
    more.add_choice(ChoiceRule.BooleanEquals(variable="$.cursor.continue_in_new_execution", value=True), prepare)
    more.default_choice(page)
    page.next(more)

    Chain([wait, compact, compacted])
    compacted.add_choice(ChoiceRule.BooleanEquals(variable="$.compaction.done", value=True), next_step=finalise)
    compacted.default_choice(compact)
    Chain([finalise, announce, Succeed("Job complete")])
    return Graph(page, comment=COMMENT)


def render() -> dict[str, Any]:
    """The ASL document of the state machine."""
    return json.loads(build().to_json())


def write(path: Path = ASL_PATH) -> Path:
    """Write the rendered ASL (two-space indent, as committed)."""
    path.write_text(json.dumps(render(), indent=2) + "\n")
    return path
