"""What counts as a change of the local cloud's state (and so, eventually, a checkpoint)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import REPO, run_async

from pipeline.tools.local.activity import JOB_COMPLETED_SUBJECT, ActivityTracker, may_write, watch_fanout


def _scope(method: str, path: str = "/", **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


JSON = "application/x-amz-json-1.0"
FORM = "application/x-www-form-urlencoded; charset=utf-8"


@pytest.mark.parametrize(
    ("scope", "body", "writes"),
    [
        (_scope("POST", x_amz_target="DynamoDB_20120810.BatchWriteItem", content_type=JSON), b"", True),
        (_scope("POST", x_amz_target="DynamoDB_20120810.TransactWriteItems", content_type=JSON), b"", True),
        (_scope("POST", x_amz_target="DynamoDB_20120810.Scan", content_type=JSON), b"", False),
        (_scope("POST", x_amz_target="DynamoDB_20120810.GetItem", content_type=JSON), b"", False),
        (_scope("POST", x_amz_target="DynamoDB_20120810.BatchGetItem", content_type=JSON), b"", False),
        (_scope("POST", x_amz_target="AmazonSQS.ReceiveMessage", content_type=JSON), b"", False),
        (_scope("POST", x_amz_target="AmazonSQS.DeleteMessage", content_type=JSON), b"", True),
        (_scope("POST", x_amz_target="AWSStepFunctions.DescribeExecution", content_type=JSON), b"", False),
        (_scope("POST", x_amz_target="AWSStepFunctions.SendTaskSuccess", content_type=JSON), b"", True),
        (_scope("POST", content_type=FORM), b"Action=DescribeStacks&StackName=pipeline-local", False),
        (_scope("POST", content_type=FORM), b"Action=GetCallerIdentity&Version=2011-06-15", False),
        (_scope("POST", content_type=FORM), b"Action=Publish&TopicArn=arn%3Aaws%3Asns%3A...&Message=x", True),
        (_scope("POST", content_type=FORM), b"Action=CreateChangeSet&StackName=x", True),
        (_scope("GET", "/bucket/key"), b"", False),
        (_scope("HEAD", "/bucket/key"), b"", False),
        (_scope("PUT", "/bucket/key"), b"data", True),
        (_scope("DELETE", "/bucket/key"), b"", True),
        (_scope("POST", "/2015-03-31/functions/f/invocations"), b"{}", True),
        (_scope("GET", "/_ministack/ready"), b"", False),
        (_scope("POST", "/_ministack/reset"), b"", False),
    ],
)
def test_reads_and_probes_are_not_changes(scope: dict[str, Any], body: bytes, writes: bool) -> None:
    assert may_write(scope, body) is writes


def test_a_change_is_counted_once_its_response_is_sent() -> None:
    events: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        events.append(f"handled {message['body'].decode()}")
        await send({"type": "http.response.start", "status": 200})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"Action=Publish&TopicArn=t", "more_body": False}

    async def send(message: Any) -> None:
        events.append("sent")

    tracker = ActivityTracker(app, lambda: events.append("counted"))
    run_async(tracker(_scope("POST", content_type=FORM), receive, send))
    run_async(tracker(_scope("GET", "/b/k"), receive, send))
    handled = "handled Action=Publish&TopicArn=t"
    assert events == [handled, "sent", "counted", handled, "sent"]


def test_every_publish_is_seen_with_its_subject() -> None:
    class FakeSns:
        def __init__(self) -> None:
            self.delivered: list[tuple[Any, ...]] = []

        def _fanout(self, topic_arn: str, msg_id: str, message: str, subject: str, *rest: Any, **kw: Any) -> None:
            self.delivered.append((topic_arn, subject))

    sns = FakeSns()
    seen: list[tuple[str, str]] = []
    assert watch_fanout(sns, lambda topic, subject: seen.append((topic, subject)))
    assert watch_fanout(sns, lambda topic, subject: seen.append(("twice", subject)))  # installed once only
    sns._fanout("arn:t", "id", "{}", "job-completed", "", {})
    sns._fanout("arn:s3", "id", "{}", subject="Amazon S3 Notification")
    assert seen == [("arn:t", "job-completed"), ("arn:s3", "Amazon S3 Notification")]
    assert len(sns.delivered) == 2
    assert not watch_fanout(object(), lambda topic, subject: None)  # a MiniStack without it: nothing changed


def test_the_checkpoint_trigger_listens_for_the_subject_the_pipeline_publishes() -> None:
    asl = json.loads((REPO / "statemachines" / "batch.asl.json").read_text())
    subjects = re.findall(r'"Subject": "([^"]+)"', json.dumps(asl, indent=1))
    assert subjects == [JOB_COMPLETED_SUBJECT]
    upload = (REPO / "pipeline" / "runtime" / "arrival" / "upload.py").read_text()
    assert f'Subject="{JOB_COMPLETED_SUBJECT}"' in upload


def test_the_ministack_fanout_takes_the_arguments_the_watcher_expects() -> None:
    """The watcher passes the topic and subject through by position or keyword, as every caller does."""
    import inspect

    from ministack.services import sns

    parameters = list(inspect.signature(sns._fanout).parameters)
    assert parameters[:4] == ["topic_arn", "msg_id", "message", "subject"]
