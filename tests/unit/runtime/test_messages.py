"""The helpers of the shapes built in several places: the new cursor, the execution ARN, the AWS error code."""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from pipeline.runtime.aws import error_code
from pipeline.runtime.messages import JobMode, JobStatus, PageStatus, execution_arn, new_cursor


def test_a_new_cursor_starts_at_the_first_line_and_resumes_where_it_is_told():
    start = new_cursor()
    assert start == {
        "offset": 0,
        "page": 0,
        "line": 1,
        "header": "",
        "done": False,
        "continue_in_new_execution": False,
        "iteration": 0,
    }
    resumed = new_cursor(offset=4096, page=3, line=120, header="id,name", execution=2)
    assert resumed == start | {"offset": 4096, "page": 3, "line": 120, "header": "id,name", "execution": 2}
    assert json.loads(json.dumps(resumed)) == resumed  # the state machine input is JSON


def test_the_execution_arn_is_the_state_machine_arn_with_the_execution_resource_type():
    # the format of AWS's own execution ARNs: arn:aws:states:<region>:<account>:execution:<machine>:<name>
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:pipeline-prod-batch"
    expected = "arn:aws:states:eu-west-1:123456789012:execution:pipeline-prod-batch:job-7-0"
    assert execution_arn(machine, "job-7-0") == expected


def test_error_code_reads_a_client_errors_code_and_is_empty_for_other_exceptions():
    exc = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "no"}}, "UpdateItem")
    assert error_code(exc) == "ConditionalCheckFailedException"
    assert error_code(ClientError({}, "GetObject")) == ""
    assert error_code(ValueError("x")) == ""


def test_statuses_and_modes_are_the_strings_stored_in_the_jobs_table():
    assert [s.value for s in JobStatus] == ["RECEIVED", "PROCESSING", "PAGING", "COMPLETE", "FAILED"]
    assert [s.value for s in PageStatus] == ["RETRYING", "DONE", "FAILED", "REDRIVEN"]
    assert [m.value for m in JobMode] == ["inline", "paged"]
    assert PageStatus.DONE == "DONE" and JobMode.PAGED == "paged"  # StrEnum: equal to what DynamoDB returns
