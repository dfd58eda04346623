"""State machine job steps (await pages, finalise, fail) and the dead-letter queue consumers (pages, uploads)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.runtime.arrival.dead_letters import dead_upload
from pipeline.runtime.arrival.events import objects_from_sqs
from pipeline.runtime.config import settings
from pipeline.runtime.jobs import job_steps as steps
from pipeline.runtime.jobs.model import job_summary
from pipeline.runtime.observability import correlate, count, instrument, job_outcome, logger

processor = BatchProcessor(event_type=EventType.SQS)


def dead_letter(record: SQSRecord) -> None:
    if record.event_source_arn == settings().uploads_dead_letter_queue_arn:
        try:
            refs = objects_from_sqs(record)
        except (ValueError, KeyError, TypeError):  # not an S3 notification: nothing to fail; `pipeline sweep` covers
            logger.exception("undecodable message in the uploads dead-letter queue", extra={"body": record.body[:500]})
            return
        for ref in refs:
            correlate(ref.job_id)
            job = dead_upload(ref, settings())
            count("UploadsDeadLettered")
            if job.get("status") == "FAILED":
                job_outcome(job_summary(job))
            logger.warning("upload dead-lettered", extra={"file": ref.uri, "status": job.get("status")})
        return
    descriptor = json.loads(record.body)
    correlate(descriptor["job_id"])
    steps.dead_page(descriptor, int(record.attributes.approximate_receive_count or 0), settings())
    count("PagesDeadLettered")
    logger.warning("page dead-lettered", extra={"page": descriptor["page"]})


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        return process_partial_response(event=event, record_handler=dead_letter, processor=processor, context=context)
    correlate(event["job_id"])
    action = event["action"]
    if action == "await_pages":
        return steps.await_pages(event["job_id"], event["pages_total"], event["task_token"], settings())
    if action == "finalise":
        summary = steps.finalise(event["job_id"], settings())
        job_outcome(summary)
        return summary
    if action == "fail":
        result = steps.fail(event["job_id"], event.get("error") or {}, settings())
        count("JobsFailed")
        return result
    raise ValueError(f"unknown job step {action!r}")
