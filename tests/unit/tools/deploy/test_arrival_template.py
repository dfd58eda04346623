"""The arrival path in the template: the ingest topic reaches every subscriber through a queue with a
dead-letter queue and an alarm, and the event source mappings fit the local cloud's concurrency."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.tools.deploy.package import expanded_template


@pytest.fixture(scope="module")
def resources() -> dict[str, dict[str, Any]]:
    return expanded_template()["Resources"]


def _of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in resources.items() if r["Type"] == kind}


def _arn_of(value: Any) -> str:
    """The logical id behind `!GetAtt X.Arn` / `!Ref X`."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        return str(target[0] if isinstance(target, list) else target.split(".")[0])
    return str(value["Ref"])


def test_every_ingest_topic_subscriber_is_a_queue_with_a_dead_letter_queue(resources) -> None:
    subscriptions = [
        p for p in _of_type(resources, "AWS::SNS::Subscription").values() if p["TopicArn"] == {"Ref": "IngestTopic"}
    ]
    assert {p["Protocol"] for p in subscriptions} == {"sqs"}  # no SNS -> Lambda: its failures are not retried
    queues = {_arn_of(p["Endpoint"]) for p in subscriptions}
    assert queues == {"UploadsQueue", "InventoryQueue"}
    assert not subscriptions[0].get("RawMessageDelivery")  # the handlers decode SNS's envelope
    for queue in queues:
        redrive = resources[queue]["Properties"]["RedrivePolicy"]
        assert resources[_arn_of(redrive["deadLetterTargetArn"])]["Type"] == "AWS::SQS::Queue"
        assert redrive["maxReceiveCount"] == {"Ref": "UploadMaxReceives"}


def test_every_dead_letter_queue_has_a_depth_alarm(resources) -> None:
    queues = _of_type(resources, "AWS::SQS::Queue")
    dead = {_arn_of(p["RedrivePolicy"]["deadLetterTargetArn"]) for p in queues.values() if "RedrivePolicy" in p}
    assert dead == {"PagesDeadLetterQueue", "UploadsDeadLetterQueue", "InventoryDeadLetterQueue"}
    alarmed = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in _of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
    }
    assert dead <= alarmed


def test_every_queue_outlasts_its_functions_timeout_and_reports_partial_batches(resources) -> None:
    """A message must not come back while the invocation that holds it still runs."""
    mappings = _of_type(resources, "AWS::Lambda::EventSourceMapping")
    assert {_arn_of(m["EventSourceArn"]) for m in mappings.values()} == {
        "PagesQueue",
        "PagesDeadLetterQueue",
        "UploadsQueue",
        "UploadsDeadLetterQueue",
        "InventoryQueue",
    }
    for name, mapping in mappings.items():
        queue = resources[_arn_of(mapping["EventSourceArn"])]["Properties"]
        function = resources[mapping["FunctionName"]["Ref"]]["Properties"]
        assert queue.get("VisibilityTimeout", 30) > function["Timeout"], name
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        maximum = mapping["ScalingConfig"]["MaximumConcurrency"]
        assert 2 <= maximum <= function["ReservedConcurrentExecutions"], name  # no throttles from the mapping itself


def test_the_local_cloud_runs_every_mapping_at_full_concurrency_for_two_busy_stacks(resources, tmp_path) -> None:
    """MiniStack counts every invocation against one account limit and keeps a throttled batch invisible for its
    queue's visibility timeout (16 minutes for uploads): the mappings of two stacks at full width, plus a state
    machine task per running execution, must fit under it."""
    from pipeline.tools.local import LocalCloud

    cap = int(LocalCloud(tmp_path, 1)._server_environment()["LAMBDA_ACCOUNT_CONCURRENCY"])
    mappings = _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    width = sum(m["ScalingConfig"]["MaximumConcurrency"] for m in mappings)
    assert 2 * width + 20 <= cap, (width, cap)
