"""Decode S3 notifications (delivered through SNS, then SQS) into object references (keys URL-decoded)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, SNSEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

NO_VERSION = ("", "null")  # an unversioned object, or one stored while versioning was off


@dataclass(frozen=True)
class ObjectRef:
    """One object version that arrived in the ingest bucket."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    sequencer: str | None
    event_time: str

    @property
    def job_id(self) -> str:
        """A job id derived from the upload itself, so a redelivered event maps to the same job.

        In a versioned bucket (the ingest bucket is one) the version id names the upload, so a version found by
        listing the bucket and its S3 notification have the same id. Without one, the event's sequencer (or the
        ETag) tells uploads of the key apart.
        """
        if (self.version_id or "") not in NO_VERSION:
            identity = "\n".join(("version", self.bucket, self.key, str(self.version_id)))
        else:
            identity = "\n".join((self.bucket, self.key, "", self.sequencer or self.etag))
        return hashlib.sha256(identity.encode()).hexdigest()[:24]

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def arrival_fields(self) -> dict[str, Any]:
        """What the jobs table records about an arriving object (a listed version has no sequencer)."""
        fields = {
            "bucket": self.bucket,
            "key": self.key,
            "file": self.uri,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
            "sequencer": self.sequencer,
            "event_time": self.event_time,
        }
        return {k: v for k, v in fields.items() if v is not None}


def s3_objects(message: dict[str, Any]) -> list[ObjectRef]:
    """Objects created in one S3 notification document; the `s3:TestEvent` yields none."""
    if message.get("Event") == "s3:TestEvent" or "Records" not in message:
        return []
    refs = []
    for record in S3Event(message).records:
        if not record.event_name.startswith("ObjectCreated"):
            continue
        obj = record.s3.get_object
        refs.append(
            ObjectRef(
                bucket=record.s3.bucket.name,
                key=unquote_plus(obj.key),  # S3 URL-encodes keys in notifications
                size=int(obj.size or 0),
                etag=obj.etag or "",
                version_id=obj.version_id,
                sequencer=obj.get("sequencer"),  # absent from a notification rebuilt from a bucket listing
                event_time=record.event_time,
            )
        )
    return refs


def objects_from_sns(event: dict[str, Any]) -> list[ObjectRef]:
    """Every created object in an SNS-delivered batch of S3 notifications."""
    refs: list[ObjectRef] = []
    for record in SNSEvent(event).records:
        refs.extend(s3_objects(json.loads(record.sns.message)))
    return refs


def objects_from_sqs(record: SQSRecord) -> list[ObjectRef]:
    """Every created object in one SQS message whose body is the SNS envelope of an S3 notification (or, from
    a subscription's dead-letter queue or a raw delivery, the notification itself)."""
    body = record.json_body
    if isinstance(body, dict) and body.get("Type") == "Notification" and "Message" in body:
        return s3_objects(json.loads(record.decoded_nested_sns_event.message))
    return s3_objects(body) if isinstance(body, dict) else []


def s3_notification(ref: ObjectRef) -> dict[str, Any]:
    """The S3 notification document announcing ``ref`` (the sequencer only when known)."""
    obj: dict[str, Any] = {"key": quote_plus(ref.key, safe="/"), "size": ref.size, "eTag": ref.etag}
    if ref.version_id:
        obj["versionId"] = ref.version_id
    if ref.sequencer:
        obj["sequencer"] = ref.sequencer
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": ref.event_time,
        "eventName": "ObjectCreated:Put",
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": ref.bucket, "arn": f"arn:aws:s3:::{ref.bucket}"},
            "object": obj,
        },
    }
    return {"Records": [record]}


def sns_envelope(ref: ObjectRef, topic_arn: str, timestamp: str) -> str:
    """The body SNS puts in an SQS message for the S3 notification of ``ref`` (raw delivery off)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Subject": "Amazon S3 Notification",
            "Message": json.dumps(s3_notification(ref)),
            "Timestamp": timestamp,
        }
    )


def sqs_event(ref: ObjectRef, queue_arn: str, topic_arn: str, timestamp: str) -> dict[str, Any]:
    """The one-message SQS event the upload processor receives for ``ref`` (a redrive invokes it with this)."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "",
                "body": sns_envelope(ref, topic_arn, timestamp),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else "",
            }
        ]
    }
