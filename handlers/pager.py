"""State machine task: publish the next pages of a large upload and return the advanced cursor."""

from __future__ import annotations

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.runtime.config import settings
from pipeline.runtime.messages import ExecutionInput, PagerEvent
from pipeline.runtime.observability import correlate, count, instrument, logger
from pipeline.runtime.paging.pager import page_through


@instrument
def handler(event: PagerEvent, context: LambdaContext) -> ExecutionInput:
    correlate(event["job"]["job_id"])
    cursor = page_through(event["job"], event["cursor"], settings(), event.get("execution_arn"))
    count("PagesPublished", int(cursor["page"]) - int(event["cursor"].get("page") or 0))
    logger.info("pages published", extra={"cursor": {k: v for k, v in cursor.items() if k != "header"}})
    return {"job": event["job"], "cursor": cursor}
