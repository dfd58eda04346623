"""Named fault-injection points for tests, enabled only by `PIPELINE_FAILPOINTS` (a template parameter).

The value is a comma-separated list of `name[:page]`, e.g. `after-dynamodb:3` crashes page 3 after
its DynamoDB write, on every attempt. An empty value (the default, and the only value on AWS) makes
`hit` a no-op.
"""

from __future__ import annotations

from pipeline.config import settings


class InjectedFault(RuntimeError):
    """A failure injected on purpose by a test."""


def hit(name: str, page: int | None = None) -> None:
    """Raise `InjectedFault` if failpoint ``name`` (optionally for ``page``) is enabled."""
    spec = settings().failpoints
    if not spec:
        return
    for entry in spec.split(","):
        point, _, target = entry.strip().partition(":")
        if point == name and (not target or (page is not None and target == str(page))):
            raise InjectedFault(f"failpoint {name} hit" + (f" on page {page}" if page is not None else ""))
