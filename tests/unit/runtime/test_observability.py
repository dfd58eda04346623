"""Powertools in the handlers: EMF metrics with the stage dimension, job id correlation, tracing off locally."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest
from conftest import REPO

from pipeline.runtime import observability
from pipeline.runtime.observability import NullTracer, tracing_enabled

HANDLERS = ("inventory", "job_steps", "pager", "upload", "page_worker")


class Context:
    function_name = "pipeline-test-fn"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:pipeline-test-fn"
    aws_request_id = "req-1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_SAM_LOCAL": "true"}, False),
    ],
)
def test_tracing_is_on_only_inside_lambda_unless_disabled(env, expected):
    assert tracing_enabled(env) is expected


def test_null_tracer_keeps_the_handler_and_ignores_annotations():
    def handler(event, context):
        return event

    tracer = NullTracer()
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_method(handler) is handler
    tracer.put_annotation("job_id", "j")
    tracer.put_metadata("x", {"a": 1})


def test_instrumented_handler_flushes_emf_metrics_with_namespace_stage_and_correlation(capsys, monkeypatch):
    log_stream = io.StringIO()
    monkeypatch.setattr(observability.logger.registered_handler, "stream", log_stream)

    @observability.instrument
    def handler(event, context):
        observability.correlate(event["job_id"])
        observability.logger.info("working")
        observability.count("RowsValid", 7)
        observability.job_outcome({"status": "COMPLETE", "rows_valid": 7, "rows_rejected": 2, "duration_s": 1.5})
        with observability.timed("PageSeconds"):
            pass
        return "done"

    assert handler({"job_id": "job-123"}, Context()) == "done"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    log = next(json.loads(line) for line in log_stream.getvalue().splitlines() if '"working"' in line)
    assert log["correlation_id"] == "job-123"
    assert log["function_name"] == "pipeline-test-fn"
    emf = [line for line in lines if "_aws" in line]
    metrics = {m["Name"] for blob in emf for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"RowsValid", "RowsRejected", "JobsCompleted", "JobSeconds", "PageSeconds"} <= metrics
    blob = next(b for b in emf if "RowsRejected" in b)
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "CsvPipeline"
    assert "stage" in directive["Dimensions"][0]
    assert blob["RowsRejected"] == [2.0]
    assert blob["RowsValid"] == [7.0, 7.0]


def test_failed_job_counts_once_and_no_rows():
    observability.metrics.clear_metrics()
    observability.job_outcome({"status": "FAILED", "rows_valid": 3})
    assert set(observability.metrics.metric_set) == {"JobsFailed"}
    observability.metrics.clear_metrics()


@pytest.mark.parametrize("handler", HANDLERS)
def test_handlers_import_without_xray_when_tracing_is_off_and_light_ones_without_pyarrow(handler):
    """A cold start locally (POWERTOOLS_TRACE_DISABLED) never loads the X-Ray SDK; light handlers skip pyarrow."""
    probe = (
        f"import sys, handlers.{handler}; "
        "print(','.join(sorted(m for m in ('aws_xray_sdk', 'pyarrow', 'numpy', 'pandas') if m in sys.modules)))"
    )
    env = {"POWERTOOLS_TRACE_DISABLED": "true", "AWS_LAMBDA_FUNCTION_NAME": "f", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()
    loaded = set(filter(None, out.split(",")))
    assert "aws_xray_sdk" not in loaded
    assert "pandas" not in loaded
    if handler in ("inventory", "job_steps"):
        assert loaded == set()
