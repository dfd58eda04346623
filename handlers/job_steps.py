"""State machine job steps (await pages, finalise, fail) and the pages dead-letter queue consumer."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.config import settings
from pipeline.pages import steps

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def dead_letter(record: SQSRecord) -> None:
    descriptor = json.loads(record.body)
    logger.set_correlation_id(descriptor["job_id"])
    steps.dead_page(descriptor, int(record.attributes.approximate_receive_count or 0), settings())
    logger.warning("page dead-lettered", extra={"page": descriptor["page"]})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        return process_partial_response(event=event, record_handler=dead_letter, processor=processor, context=context)
    logger.set_correlation_id(event["job_id"])
    action = event["action"]
    if action == "await_pages":
        return steps.await_pages(event["job_id"], event["pages_total"], event["task_token"], settings())
    if action == "finalise":
        return steps.finalise(event["job_id"], settings())
    if action == "fail":
        return steps.fail(event["job_id"], event.get("error") or {}, settings())
    raise ValueError(f"unknown job step {action!r}")
