"""The small-file reference: the local cloud's raw S3 -> SNS -> SQS -> Lambda round trip with a handler that
only prints when it ran, subscribed to the stage's own ingest topic (what every upload already publishes to)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from pipeline.runtime import aws

MARK = "BENCH-RAW"
HANDLER = f'''import json, time


def handler(event, context):
    for record in event["Records"]:
        body = json.loads(record["body"])
        for s3 in (json.loads(body["Message"]) if "Message" in body else body).get("Records", []):
            print("{MARK}", time.time(), s3["s3"]["object"]["key"])
'''


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", HANDLER)
    return buffer.getvalue()


@contextmanager
def raw_round_trip(outs: dict[str, str], runtime: str = "python3.12") -> Iterator[str]:
    """A queue subscribed to the ingest topic and a trivial Lambda reading it; yields the function's name and
    removes them all afterwards."""
    sqs, sns, lam = aws.client("sqs"), aws.client("sns"), aws.client("lambda")
    name = f"{outs['Stage']}-bench-raw-{int(time.time())}"
    with ExitStack() as undo:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        undo.callback(sqs.delete_queue, QueueUrl=url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        subscription = sns.subscribe(TopicArn=outs["IngestTopicArn"], Protocol="sqs", Endpoint=arn)["SubscriptionArn"]
        undo.callback(sns.unsubscribe, SubscriptionArn=subscription)
        lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role="arn:aws:iam::000000000000:role/bench-raw",
            Handler="index.handler",
            Code={"ZipFile": _zip()},
            Timeout=30,
            MemorySize=128,
        )
        undo.callback(lam.delete_function, FunctionName=name)
        for _ in range(150):  # until it can be invoked (a local cloud may not report a state at all)
            if lam.get_function(FunctionName=name)["Configuration"].get("State", "Active") == "Active":
                break
            time.sleep(0.2)
        mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=10)["UUID"]
        undo.callback(lam.delete_event_source_mapping, UUID=mapping)
        yield name


def ran_at(function: str, key: str, timeout: float = 120) -> float | None:
    """The wall clock the trivial handler printed for ``key``, polled from its log group; None on timeout."""
    logs = aws.client("logs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            events: list[dict[str, Any]] = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}").get(
                "events", []
            )
        except logs.exceptions.ResourceNotFoundException:
            events = []
        for event in events:
            parts = str(event.get("message", "")).split()
            if len(parts) >= 3 and parts[0] == MARK and parts[2] == key:
                return float(parts[1])
        time.sleep(0.2)
    return None
