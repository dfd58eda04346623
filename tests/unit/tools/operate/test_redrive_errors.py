"""A failed redrive invocation is one line: the exception lines of Powertools' batch error, no traceback."""

from __future__ import annotations

import json

from pipeline.tools.operate.redrive import lambda_error

BATCH_MESSAGE = (
    "All records failed processing. 1 individual errors logged separately below.\n\n"
    "Traceback (most recent call last):\n"
    '  File "/var/task/base.py", line 564, in _process_record\n'
    "    result = self.handler(record=data)\n"
    "             ^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    "botocore.errorfactory.NoSuchKey: An error occurred (NoSuchKey) when calling the GetObject operation: gone\n"
)


def test_a_batch_error_becomes_its_exception_lines():
    line = lambda_error(json.dumps({"errorMessage": BATCH_MESSAGE, "errorType": "BatchProcessingError"}))
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("All records failed processing.") and line.endswith("GetObject operation: gone")


def test_a_plain_error_and_a_payload_that_is_not_json_are_one_line():
    assert lambda_error(json.dumps({"errorMessage": "boom", "errorType": "ValueError"})) == "boom"
    assert lambda_error("not json\nthe last line") == "the last line"
    assert lambda_error("") == "no error message"
