"""Back off a failed page message: shorten its visibility so the retry comes in seconds, not minutes."""

from __future__ import annotations

from botocore.exceptions import ClientError

from pipeline.runtime import aws

BASE_SECONDS = 5
MAX_SECONDS = 300


def queue_url(event_source_arn: str) -> str:
    """The queue URL of an SQS ARN (`arn:aws:sqs:<region>:<account>:<name>`)."""
    sqs = aws.client("sqs")
    _, _, _, _, account, name = event_source_arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def back_off(event_source_arn: str, receipt_handle: str, receive_count: int) -> int:
    """Make the failed message visible again after an exponential delay; return the delay in seconds."""
    delay = min(MAX_SECONDS, BASE_SECONDS * 2 ** max(0, receive_count - 1))
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=queue_url(event_source_arn), ReceiptHandle=receipt_handle, VisibilityTimeout=delay
        )
    except ClientError:  # the retry then simply waits for the queue's own visibility timeout
        return -1
    return delay
