"""`pipeline logs` keeps exactly the job's Powertools lines, and finds every function's log group."""

from __future__ import annotations

import json

from pipeline.tools.cli.logs import _parse, log_groups


def test_only_lines_whose_correlation_id_is_the_job_are_kept() -> None:
    job = "a1b2c3"
    line = {"level": "INFO", "message": "upload handled", "timestamp": "t", "correlation_id": job, "file": "s3://b/k"}
    kept = _parse({"timestamp": 5, "message": json.dumps(line), "eventId": "e1"}, "processor", job)
    assert kept is not None and (kept.function, kept.level, kept.message) == ("processor", "INFO", "upload handled")
    assert kept.fields == {"file": "s3://b/k"} and kept.event_id == "e1"
    for message in (
        f"START RequestId: {job} Version: $LATEST",  # a plain line naming the id is not about the job
        json.dumps({**line, "correlation_id": job + "ff"}),  # a longer id the quoted-term search also matches
        json.dumps({**line, "correlation_id": None, "note": job}),
        json.dumps([job]),
    ):
        assert _parse({"timestamp": 1, "message": message}, "processor", job) is None


def test_every_function_output_is_a_log_group() -> None:
    outs = {
        "Stage": "prod",
        "ProcessorFunction": "pipeline-prod-processor",
        "PagerFunction": "pipeline-prod-pager",
        "JobsTable": "pipeline-prod-jobs",
    }
    assert log_groups(outs) == {
        "pager": "/aws/lambda/pipeline-prod-pager",
        "processor": "/aws/lambda/pipeline-prod-processor",
    }
