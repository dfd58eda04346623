"""Named fault-injection points for tests, enabled only by `PIPELINE_FAILPOINTS` (a template parameter).

The value is a comma-separated list of `name[:page[:attempts]]`, e.g. `after-dynamodb:3` crashes page 3
after its DynamoDB write on every attempt, and `after-s3:2:1` crashes page 2 after its S3 write on the
first attempt only (the retry then succeeds); a state machine task's attempt is its `$$.State.RetryCount` + 1.
Some points change behaviour instead of crashing (`active`): `compact-one-partition` ends each compaction
invocation after one partition, as if its time ran out. An empty value (the default, and the only value on AWS)
makes `hit` a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pipeline.runtime.config import settings

_ATTEMPT: ContextVar[int] = ContextVar("failpoint_attempt", default=1)


@contextmanager
def attempt(number: int) -> Iterator[None]:
    """Run the block as delivery attempt ``number`` (the SQS receive count) for attempt-limited failpoints."""
    token = _ATTEMPT.set(number)
    try:
        yield
    finally:
        _ATTEMPT.reset(token)


class InjectedFault(RuntimeError):
    """A failure injected on purpose by a test."""


def active(name: str, page: int | None = None) -> bool:
    """Whether failpoint ``name`` (optionally for ``page``) is enabled for this attempt."""
    spec = settings().failpoints
    if not spec:
        return False
    for entry in spec.split(","):
        point, _, rest = entry.strip().partition(":")
        target, _, attempts = rest.partition(":")
        if point != name or (target and (page is None or target != str(page))):
            continue
        if attempts and _ATTEMPT.get() > int(attempts):
            continue
        return True
    return False


def hit(name: str, page: int | None = None) -> None:
    """Raise `InjectedFault` if failpoint ``name`` (optionally for ``page``) is enabled."""
    if active(name, page):
        raise InjectedFault(f"failpoint {name} hit" + (f" on page {page}" if page is not None else ""))
