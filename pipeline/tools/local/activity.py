"""What tells the checkpointer that the local cloud's state changed: API requests that can write, and job events.

An ASGI wrapper around MiniStack's app counts each request that may change state once its response has been
sent (so a checkpoint taken after the count includes the change); reads (GET/HEAD, `Describe*`, `List*`,
`Get*`, `Query`, `Scan`, ...) and MiniStack's own health probes are not counted, so polling a job never causes
a checkpoint. A job reaching COMPLETE is seen where the pipeline announces it: a publish with the subject
`job-completed` (from the upload processor over HTTP, from the state machine in-process) reaches SNS's fan-out.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

# The subject the pipeline publishes on the job-events topic when a job completes
# (pipeline/runtime/arrival/upload.py, statemachines/batch.asl.json "Announce job completed").
JOB_COMPLETED_SUBJECT = "job-completed"

_READ_OPERATION = re.compile(
    rb"^(Get|List|Describe|Query|Scan|BatchGet|TransactGet|Head|Lookup|Search|Receive|Select|Validate|Test|Detect)"
)
_FORM_ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z]+)")
_PEEK_BYTES = 4096

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return b""


def may_write(scope: Scope, first_body: bytes = b"") -> bool:
    """Whether a request can change the emulator's state (as far as its method, target and action tell)."""
    if scope.get("type") != "http" or str(scope.get("path", "")).startswith("/_ministack"):
        return False
    if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return False
    target = _header(scope, b"x-amz-target")
    if target:  # JSON protocols: DynamoDB_20120810.Scan, AmazonSQS.ReceiveMessage, AWSGlue.GetTable, ...
        return not _READ_OPERATION.match(target.rsplit(b".", 1)[-1])
    if b"x-www-form-urlencoded" in _header(scope, b"content-type"):  # query protocols: Action=DescribeStacks
        action = _FORM_ACTION.search(first_body[:_PEEK_BYTES])
        return not (action and _READ_OPERATION.match(action.group(1)))
    return True


class ActivityTracker:
    """ASGI wrapper: calls ``on_write`` after each request that may have changed state has been answered."""

    def __init__(self, app: App, on_write: Callable[[], None]) -> None:
        self.app = app
        self.on_write = on_write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        peeked: list[bytes] = []

        async def peeking_receive() -> dict[str, Any]:
            message = await receive()
            if not peeked and message.get("type") == "http.request":
                peeked.append(bytes(message.get("body") or b""))
            return message

        try:
            await self.app(scope, peeking_receive, send)
        finally:
            if may_write(scope, peeked[0] if peeked else b""):
                self.on_write()


def watch_fanout(sns: Any, on_publish: Callable[[str, str], None]) -> bool:
    """Wrap MiniStack's SNS fan-out (every publish path goes through it) to call ``on_publish(topic, subject)``.

    Returns False, changing nothing, when this MiniStack has no such function (checkpoints then rely on
    request activity alone).
    """
    fanout = getattr(sns, "_fanout", None)
    if fanout is None or getattr(fanout, "_pipeline_watched", False):
        return fanout is not None

    def watched(topic_arn: str, msg_id: str, message: Any, subject: Any = "", *args: Any, **kwargs: Any) -> Any:
        try:
            return fanout(topic_arn, msg_id, message, subject, *args, **kwargs)
        finally:
            on_publish(str(topic_arn), str(subject or ""))

    watched._pipeline_watched = True  # type: ignore[attr-defined]
    sns._fanout = watched
    return True
