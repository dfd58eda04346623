"""Ingest topic subscriber: record every arriving object in the jobs table, whatever processing does."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import settings
from pipeline.ingest.events import objects_from_sns
from pipeline.jobs import JobStore
from pipeline.observability import correlate, count, instrument, logger


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    jobs = JobStore(settings().jobs_table)
    refs = objects_from_sns(event)
    for ref in refs:
        correlate(ref.job_id)
        jobs.record_arrival(ref.job_id, ref.arrival_fields())
        logger.info("object recorded", extra={"file": ref.uri, "job_id": ref.job_id, "size": ref.size})
        count("FilesReceived")
        count("BytesReceived", ref.size or 0)
    return {"recorded": len(refs)}
