"""State machine task `Compact job output`: compact a paged job's output within this invocation's time, and say
whether it is done (ADR 10); when not, the state machine invokes it again and it resumes."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from pipeline.runtime import failpoints
from pipeline.runtime.config import settings
from pipeline.runtime.jobs import job_steps as steps
from pipeline.runtime.messages import CompactStepResult
from pipeline.runtime.observability import correlate, count, instrument, logger, seconds


@instrument
def handler(event: dict[str, Any], context: LambdaContext) -> CompactStepResult:
    correlate(event["job_id"])
    started = time.monotonic()
    with failpoints.attempt(int(event.get("retry_count") or 0) + 1):  # $$.State.RetryCount
        result = steps.compact_output(
            event["job_id"], settings(), lambda: context.get_remaining_time_in_millis() / 1000
        )
    if result.get("status") != "OFF":
        seconds("CompactionSeconds", time.monotonic() - started)
        count("CompactionsUnfinished", 0 if result["done"] else 1)
        logger.info("compaction step", extra={"compaction": result})
    return result
