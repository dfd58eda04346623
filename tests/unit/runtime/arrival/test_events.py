"""S3 notifications delivered through SNS and SQS: decoding, URL-decoded keys, test events, stable job ids."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent, SQSRecord
from conftest import load_event

from pipeline.runtime.arrival.events import ObjectRef, objects_from_sns, objects_from_sqs, s3_objects, sqs_event


def _with_s3(event: dict[str, Any], **object_changes: Any) -> dict[str, Any]:
    """A copy of an SNS event whose (first) S3 record has its object fields changed."""
    event = copy.deepcopy(event)
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    message["Records"][0]["s3"]["object"].update(object_changes)
    sns["Message"] = json.dumps(message)
    return event


def _s3_record(event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(event["Records"][0]["Sns"]["Message"])["Records"][0]


@pytest.fixture
def put_event() -> dict[str, Any]:
    return load_event("sns_s3_put.json")


def test_captured_events_are_sns_wrapped_s3_notifications():
    for name in ("sns_s3_put.json", "sns_s3_test_event.json"):
        event = load_event(name)
        record = event["Records"][0]
        assert record["EventSource"] == "aws:sns"
        assert isinstance(record["Sns"]["Message"], str)
        json.loads(record["Sns"]["Message"])


def test_put_event_gives_one_object_reference(put_event):
    [ref] = objects_from_sns(put_event)
    assert ref == ObjectRef(
        bucket="csvpipe-dev-ingest-123456789012-eu-west-1",
        key="orders/a b/ü.csv",
        size=1048576,
        etag="d41d8cd98f00b204e9800998ecf8427e",
        version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        sequencer="0065E6F1A2B3C4D5E6",
        event_time="2024-03-05T10:15:30.456Z",
    )
    assert ref.uri == "s3://csvpipe-dev-ingest-123456789012-eu-west-1/orders/a b/ü.csv"


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("orders/a+b/%C3%BC.csv", "orders/a b/ü.csv"),
        ("orders/1%2B1%3D2.csv", "orders/1+1=2.csv"),
        ("orders/100%25.csv", "orders/100%.csv"),
        ("orders/plain.csv", "orders/plain.csv"),
    ],
)
def test_keys_are_url_decoded(put_event, encoded, key):
    [ref] = objects_from_sns(_with_s3(put_event, key=encoded))
    assert ref.key == key


def test_s3_test_event_is_ignored():
    assert objects_from_sns(load_event("sns_s3_test_event.json")) == []


def test_non_create_events_are_ignored(put_event):
    event = copy.deepcopy(put_event)
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    message["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    sns["Message"] = json.dumps(message)
    assert objects_from_sns(event) == []


def test_every_record_of_every_sns_message_is_returned(put_event):
    event = copy.deepcopy(put_event)
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    second = copy.deepcopy(message["Records"][0])
    second["s3"]["object"]["key"] = "orders/second.csv"
    second["eventName"] = "ObjectCreated:CompleteMultipartUpload"
    message["Records"].append(second)
    sns["Message"] = json.dumps(message)
    event["Records"].append(load_event("sns_s3_test_event.json")["Records"][0])
    event["Records"].append(_with_s3(put_event, key="orders/third.csv")["Records"][0])
    keys = [r.key for r in objects_from_sns(event)]
    assert keys == ["orders/a b/ü.csv", "orders/second.csv", "orders/third.csv"]


def test_unversioned_object_has_no_version_id(put_event):
    event = copy.deepcopy(put_event)
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    del message["Records"][0]["s3"]["object"]["versionId"]
    sns["Message"] = json.dumps(message)
    [ref] = objects_from_sns(event)
    assert ref.version_id is None


def test_s3_objects_of_a_plain_notification():
    assert s3_objects({"Event": "s3:TestEvent"}) == []
    assert s3_objects({}) == []


# ------------------------------------------------------------------ job ids


def test_job_id_is_stable_for_the_same_event(put_event):
    [first] = objects_from_sns(put_event)
    [again] = objects_from_sns(load_event("sns_s3_put.json"))
    assert first.job_id == again.job_id
    assert len(first.job_id) == 24
    assert all(c in "0123456789abcdef" for c in first.job_id)


def test_redelivered_event_with_new_sns_envelope_keeps_the_job_id(put_event):
    redelivered = copy.deepcopy(put_event)
    redelivered["Records"][0]["Sns"]["MessageId"] = "00000000-0000-0000-0000-000000000000"
    redelivered["Records"][0]["Sns"]["Timestamp"] = "2024-03-05T10:20:00.000Z"
    assert objects_from_sns(redelivered)[0].job_id == objects_from_sns(put_event)[0].job_id


@pytest.mark.parametrize("change", [{"versionId": "another-version"}, {"key": "orders/other.csv"}])
def test_job_id_differs_for_a_different_upload(put_event, change):
    assert objects_from_sns(_with_s3(put_event, **change))[0].job_id != objects_from_sns(put_event)[0].job_id


def test_in_a_versioned_bucket_the_version_id_alone_names_the_upload(put_event):
    """A bucket listing has no sequencer: a listed version and its notification must be the same job."""
    [ref] = objects_from_sns(put_event)
    listed = ObjectRef(ref.bucket, ref.key, ref.size, ref.etag, ref.version_id, None, "2024-03-05T10:15:30.000Z")
    assert listed.job_id == ref.job_id
    assert objects_from_sns(_with_s3(put_event, sequencer="0065E6F1A2B3C4D5F0"))[0].job_id == ref.job_id


@pytest.mark.parametrize("version_id", [None, "null"])
def test_without_a_version_id_the_sequencer_tells_uploads_apart(version_id):
    base = dict(bucket="b", key="orders/x.csv", size=1, etag="e", version_id=version_id, event_time="t")
    assert ObjectRef(sequencer="01", **base).job_id != ObjectRef(sequencer="02", **base).job_id


def test_job_id_falls_back_to_the_etag_without_sequencer():
    base = dict(bucket="b", key="orders/x.csv", size=1, version_id=None, sequencer=None, event_time="t")
    assert ObjectRef(etag="e1", **base).job_id != ObjectRef(etag="e2", **base).job_id
    assert ObjectRef(etag="e1", **base).job_id == ObjectRef(etag="e1", **base).job_id


@pytest.mark.parametrize("key", ["orders/a.csv", "orders/with space/ü ñ+plus.csv", "orders/a%20b.csv"])
@pytest.mark.parametrize(("version_id", "sequencer"), [(None, "00ABC"), ("v1", "00ABC"), ("v1", None)])
def test_a_rebuilt_notification_decodes_to_the_same_object_and_job(
    key: str, version_id: str | None, sequencer: str | None
):
    """What `pipeline redrive` invokes the processor with, and what `pipeline sweep` sends to its queue."""
    ref = ObjectRef("ingest", key, 42, "etag", version_id, sequencer, "2026-11-23T00:00:00.000Z")
    queue, topic = "arn:aws:sqs:us-east-1:1:pipeline-t-uploads", "arn:aws:sns:us-east-1:1:pipeline-t-ingest"
    [record] = SQSEvent(sqs_event(ref, queue, topic, "2026-11-23T00:00:01.000Z")).records
    assert objects_from_sqs(record) == [ref]
    assert objects_from_sqs(record)[0].job_id == ref.job_id
    assert record.event_source_arn == queue


# ------------------------------------------------------------------ through SQS


def test_an_sqs_message_holding_the_sns_envelope_decodes_like_the_sns_event(put_event):
    [record] = SQSEvent(load_event("sqs_sns_s3_put.json")).records
    assert objects_from_sqs(record) == objects_from_sns(put_event)
    assert int(record.attributes.approximate_receive_count or 0) == 1


def test_an_sqs_message_holding_the_s3_test_event_yields_nothing():
    envelope = load_event("sns_s3_test_event.json")["Records"][0]["Sns"]
    record = SQSRecord({"messageId": "m", "body": json.dumps(envelope), "attributes": {}})
    assert objects_from_sqs(record) == []


def test_a_notification_without_the_sns_envelope_decodes_too(put_event):
    """What a subscription's dead-letter queue or a raw delivery holds: the S3 notification itself."""
    message = put_event["Records"][0]["Sns"]["Message"]
    record = SQSRecord({"messageId": "m", "body": message, "attributes": {}})
    assert objects_from_sqs(record) == objects_from_sns(put_event)
    assert objects_from_sqs(SQSRecord({"messageId": "m", "body": "[]", "attributes": {}})) == []
