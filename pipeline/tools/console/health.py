"""Health: the pages dead-letter queue's depth, and whether the redrive action can be offered."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from pipeline.runtime import aws

REDRIVE_MODULE = "pipeline.tools.operate.redrive"
Redrive = Callable[[dict[str, str], str], dict[str, Any]]


def dead_letter_depth(queue_url: str) -> dict[str, Any]:
    """Messages waiting in the dead-letter queue and messages being received from it right now."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return {
        "url": queue_url,
        "messages": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
    }


def redrive_function() -> tuple[Redrive | None, str]:
    """`pipeline.tools.operate.redrive.redrive`, imported when first needed, or None with the reason it is missing."""
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(REDRIVE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != REDRIVE_MODULE:
            return None, f"redrive could not be loaded: {exc}"
        return None, "redrive is not available in this version (pipeline.tools.operate.redrive is missing)"
    except ImportError as exc:
        return None, f"redrive could not be loaded: {exc}"
    function = getattr(module, "redrive", None)
    if not callable(function):
        return None, "redrive is not available in this version (pipeline.tools.operate.redrive has no redrive())"
    return function, ""


def redrive_status(allow_writes: bool) -> dict[str, Any]:
    """Whether the redrive button is enabled, and a note saying why not."""
    function, note = redrive_function()
    if function is not None and not allow_writes:
        note = "read-only console: start it with --allow-writes to redrive failed jobs"
    return {"available": function is not None, "enabled": function is not None and allow_writes, "note": note}
