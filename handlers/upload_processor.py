"""Ingest topic subscriber: open a job per uploaded object, process small files inline, page large ones."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import settings
from pipeline.ingest.events import objects_from_sns
from pipeline.ingest.upload import handle_upload
from pipeline.jobs.model import job_summary

logger = Logger()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    jobs = []
    for ref in objects_from_sns(event):
        logger.set_correlation_id(ref.job_id)
        job = handle_upload(ref, settings())
        logger.info("upload handled", extra={"file": ref.uri, "job": job_summary(job)})
        jobs.append(job_summary(job))
    return {"jobs": jobs}
