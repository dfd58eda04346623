"""Powertools logging, metrics (CloudWatch EMF) and tracing for the Lambda handlers, set from the environment.

The template sets `POWERTOOLS_SERVICE_NAME`, `POWERTOOLS_LOG_LEVEL`, `POWERTOOLS_METRICS_NAMESPACE`,
`POWERTOOLS_TRACE_DISABLED` and `PIPELINE_STAGE` on every function. Tracing stays off (a no-op tracer, so
`aws_xray_sdk` is not even imported) when `POWERTOOLS_TRACE_DISABLED` is true, as on the local cloud, or
outside Lambda; the X-Ray recorder alone costs ~150 ms of cold start because it builds boto clients.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from pipeline.runtime.messages import JobSummary

NAMESPACE = "CsvPipeline"
Handler = TypeVar("Handler", bound=Callable[..., Any])

logger = Logger()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE)
metrics.set_default_dimensions(stage=os.environ.get("PIPELINE_STAGE") or "local")


def tracing_enabled(environ: dict[str, str] | None = None) -> bool:
    """True inside Lambda unless `POWERTOOLS_TRACE_DISABLED` says otherwise (Powertools' own rule)."""
    env = os.environ if environ is None else environ
    disabled = env.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(env.get("AWS_LAMBDA_FUNCTION_NAME")) and not disabled and not env.get("AWS_SAM_LOCAL")


class NullTracer:
    """The subset of Powertools' `Tracer` the handlers use, doing nothing."""

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        return handler

    def capture_method(self, method: Handler) -> Handler:
        return method

    def put_annotation(self, key: str, value: str | int | float | bool) -> None:
        return None

    def put_metadata(self, key: str, value: Any) -> None:
        return None


def _tracer() -> Any:
    if not tracing_enabled():
        return NullTracer()
    from aws_lambda_powertools import Tracer

    return Tracer(patch_modules=["botocore"])  # the handlers only call AWS; patch_all imports a dozen libraries


tracer = _tracer()


def instrument(handler: Handler) -> Handler:
    """Lambda context in every log line, a traced handler, and metrics flushed (with cold starts) at the end."""
    wrapped = metrics.log_metrics(capture_cold_start_metric=True)(handler)
    wrapped = tracer.capture_lambda_handler(wrapped)
    wrapped = logger.inject_lambda_context(clear_state=True)(wrapped)
    return functools.wraps(handler)(wrapped)  # type: ignore[return-value]


def correlate(job_id: str) -> None:
    """Make the job id the correlation id of the log lines and an annotation of the trace."""
    logger.set_correlation_id(job_id)
    tracer.put_annotation("job_id", job_id)


def count(name: str, value: float = 1) -> None:
    """Add a count metric (summed by CloudWatch over the period)."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def seconds(name: str, value: float) -> None:
    """Add a duration metric in seconds."""
    metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=round(value, 3))


def job_outcome(job: JobSummary) -> None:
    """Count a finished job and, when it completed, its rows (valid, rejected) and its duration."""
    status = job.get("status")
    if status == "COMPLETE":
        count("JobsCompleted")
        count("RowsValid", int(job.get("rows_valid") or 0))
        count("RowsRejected", int(job.get("rows_rejected") or 0))
        if job.get("duration_s") is not None:
            seconds("JobSeconds", float(job["duration_s"]))
    elif status == "FAILED":
        count("JobsFailed")


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Record the wall time of the block as a seconds metric, also when it raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds(name, time.perf_counter() - started)
