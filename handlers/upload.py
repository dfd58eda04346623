"""Uploads queue consumer: open a job per uploaded object, process small files inline, page large ones.

The queue sits between the ingest topic and this function, so a throttled, failed or killed invocation is
delivered again (after a back-off, or the queue's visibility timeout) and, after its last attempt, lands in
the uploads dead-letter queue, whose consumer marks the job FAILED.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.runtime.arrival.events import objects_from_sqs
from pipeline.runtime.arrival.upload import handle_upload
from pipeline.runtime.config import settings
from pipeline.runtime.jobs.model import job_summary
from pipeline.runtime.observability import correlate, count, instrument, job_outcome, logger
from pipeline.runtime.pages.retry import back_off

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> None:
    receives = int(record.attributes.approximate_receive_count or 1)
    for ref in objects_from_sqs(record):
        correlate(ref.job_id)
        try:
            summary = job_summary(handle_upload(ref, settings()))
        except Exception:
            delay = back_off(record.event_source_arn, record.receipt_handle, receives) if record.receipt_handle else 0
            logger.exception("upload failed", extra={"file": ref.uri, "receives": receives, "retry_in_s": delay})
            raise
        logger.info("upload handled", extra={"file": ref.uri, "job": summary})
        if summary.get("status") == "PAGING":
            count("JobsPaged")
        job_outcome(summary)


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
