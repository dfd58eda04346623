"""Ingest topic subscriber: open a job per uploaded object, process small files inline, page large ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import settings
from pipeline.ingest.events import objects_from_sns
from pipeline.ingest.upload import handle_upload
from pipeline.jobs.model import job_summary
from pipeline.observability import correlate, count, instrument, job_outcome, logger


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    jobs = []
    for ref in objects_from_sns(event):
        correlate(ref.job_id)
        job = handle_upload(ref, settings())
        summary = job_summary(job)
        logger.info("upload handled", extra={"file": ref.uri, "job": summary})
        if summary.get("status") == "PAGING":
            count("JobsPaged")
        job_outcome(summary)
        jobs.append(summary)
    return {"jobs": jobs}
