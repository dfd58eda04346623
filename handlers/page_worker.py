"""Pages queue consumer: process each page descriptor; failed pages are retried, then dead-lettered."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.runtime.config import settings
from pipeline.runtime.observability import correlate, count, instrument, logger, timed
from pipeline.runtime.pages.page_worker import process_descriptor
from pipeline.runtime.pages.retry import back_off

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    descriptor = json.loads(record.body)
    correlate(descriptor["job_id"])
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        with timed("PageSeconds"):
            job = process_descriptor(descriptor, settings(), attempt=receives)
    except Exception:
        delay = back_off(record.event_source_arn, record.receipt_handle, receives)
        count("PagesFailed")
        logger.exception("page failed", extra={"page": descriptor["page"], "receives": receives, "retry_in_s": delay})
        raise
    count("PageDuplicates" if job is None else "PagesProcessed")
    logger.info("page processed", extra={"page": descriptor["page"], "duplicate": job is None})


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
