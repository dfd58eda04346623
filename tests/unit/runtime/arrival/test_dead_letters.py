"""The job-steps function's dead-letter consumer tells an upload's notification from a page descriptor."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from conftest import load_event

from pipeline.runtime.config import Settings

UPLOADS_DLQ = "arn:aws:sqs:us-east-1:1:pipeline-t-uploads-dlq"
PAGES_DLQ = "arn:aws:sqs:us-east-1:1:pipeline-t-pages-dlq"


@pytest.fixture
def job_steps(monkeypatch):
    import handlers.job_steps as module

    calls: list[tuple[str, object]] = []
    monkeypatch.setattr(module, "settings", lambda: Settings(uploads_dead_letter_queue_arn=UPLOADS_DLQ))
    monkeypatch.setattr(module, "dead_upload", lambda ref, s: calls.append(("upload", ref.key)) or {"status": "FAILED"})
    monkeypatch.setattr(module.steps, "dead_page", lambda d, n, s: calls.append(("page", (d["page"], n))))
    return module, calls


def _record(body: str, source: str, receives: int = 4) -> SQSRecord:
    attributes = {"ApproximateReceiveCount": str(receives)}
    return SQSRecord({"messageId": "m", "body": body, "attributes": attributes, "eventSourceARN": source})


def test_an_upload_notification_fails_its_job_and_a_page_descriptor_its_page(job_steps) -> None:
    module, calls = job_steps
    [sqs] = load_event("sqs_sns_s3_put.json")["Records"]
    module.dead_letter(_record(sqs["body"], UPLOADS_DLQ))
    module.dead_letter(_record(json.dumps({"job_id": "j", "page": 7}), PAGES_DLQ))
    assert calls == [("upload", "orders/a b/ü.csv"), ("page", (7, 4))]


@pytest.mark.parametrize("body", ["not json", json.dumps({"Type": "Notification", "Message": "{"}), "[1]"])
def test_an_undecodable_upload_dead_letter_is_dropped_not_retried_forever(job_steps, body) -> None:
    module, calls = job_steps
    module.dead_letter(_record(body, UPLOADS_DLQ))  # no exception: the message is consumed
    assert calls == []
