"""Failpoints fire only where the `PIPELINE_FAILPOINTS` spec says: by name, page and delivery attempt."""

from __future__ import annotations

import pytest

from pipeline.runtime import failpoints
from pipeline.runtime.config import settings


@pytest.fixture
def spec(monkeypatch: pytest.MonkeyPatch):
    def set_spec(value: str) -> None:
        monkeypatch.setenv("PIPELINE_FAILPOINTS", value)
        settings.cache_clear()

    yield set_spec
    settings.cache_clear()


def test_no_spec_never_fires(spec) -> None:
    spec("")
    failpoints.hit("after-dynamodb", 1)


def test_a_page_failpoint_fires_for_that_page_on_every_attempt(spec) -> None:
    spec("after-dynamodb:3")
    failpoints.hit("after-dynamodb", 2)
    failpoints.hit("after-s3", 3)
    for attempt in (1, 2, 9):
        with failpoints.attempt(attempt), pytest.raises(failpoints.InjectedFault, match="after-dynamodb hit on page 3"):
            failpoints.hit("after-dynamodb", 3)


def test_an_attempt_limited_failpoint_lets_the_retry_through(spec) -> None:
    spec("after-s3:2:1, after-dynamodb:4:2")
    with failpoints.attempt(1), pytest.raises(failpoints.InjectedFault):
        failpoints.hit("after-s3", 2)
    with failpoints.attempt(2):
        failpoints.hit("after-s3", 2)
        with pytest.raises(failpoints.InjectedFault):
            failpoints.hit("after-dynamodb", 4)
    with failpoints.attempt(3):
        failpoints.hit("after-dynamodb", 4)


def test_a_failpoint_without_page_fires_everywhere(spec) -> None:
    spec("after-publish")
    with pytest.raises(failpoints.InjectedFault):
        failpoints.hit("after-publish", 0)
