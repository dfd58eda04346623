"""Decode S3 notifications delivered through SNS into object references (keys URL-decoded)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, SNSEvent


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
        """A job id derived from the upload itself, so a redelivered event maps to the same job."""
        identity = "\n".join((self.bucket, self.key, self.version_id or "", self.sequencer or self.etag))
        return hashlib.sha256(identity.encode()).hexdigest()[:24]

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def arrival_fields(self) -> dict[str, Any]:
        """What the jobs table records about an arriving object."""
        return {
            "bucket": self.bucket,
            "key": self.key,
            "file": self.uri,
            "size": self.size,
            "etag": self.etag,
            "version_id": self.version_id,
            "sequencer": self.sequencer,
            "event_time": self.event_time,
        }


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
                sequencer=obj.sequencer,
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


def sns_notification(ref: ObjectRef) -> dict[str, Any]:
    """The SNS-delivered S3 notification announcing ``ref``: what the upload processor receives (for redrives)."""
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
    message = {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "Sns": {"Type": "Notification", "Message": json.dumps({"Records": [record]})},
    }
    return {"Records": [message]}
