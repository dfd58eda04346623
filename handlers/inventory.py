"""Inventory queue consumer: record every arriving object in the jobs table, whatever processing does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.runtime.arrival import inventory
from pipeline.runtime.arrival.events import objects_from_sqs
from pipeline.runtime.config import settings
from pipeline.runtime.observability import correlate, count, instrument, logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    for ref in objects_from_sqs(record):
        correlate(ref.job_id)
        inventory.record_arrival(ref, settings())
        logger.info("object recorded", extra={"file": ref.uri, "job_id": ref.job_id, "size": ref.size})
        count("FilesReceived")
        count("BytesReceived", ref.size or 0)


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
