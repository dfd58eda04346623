"""Failpoints fire only where the `PIPELINE_FAILPOINTS` spec says: by name, page and delivery attempt.

Each test spells out, as a set, every (name, page, attempt) the spec must fire at and checks the whole grid
against it: a failpoint that fires where it should not fails the test as much as one that never fires.
"""

from __future__ import annotations

import pytest

from pipeline.runtime import failpoints
from pipeline.runtime.config import settings

NAMES = ("after-dynamodb", "after-s3", "after-publish")
PAGES = (None, 0, 1, 2, 3, 4, 13, 30)
ATTEMPTS = (1, 2, 3)
GRID = [(name, page, attempt) for name in NAMES for page in PAGES for attempt in ATTEMPTS]


@pytest.fixture
def firing(monkeypatch: pytest.MonkeyPatch):
    """Set the spec; return the (name, page, attempt) points of the grid where `hit` raises."""

    def points(spec: str) -> set[tuple[str, int | None, int]]:
        monkeypatch.setenv("PIPELINE_FAILPOINTS", spec)
        settings.cache_clear()
        fired = set()
        for name, page, attempt in GRID:
            with failpoints.attempt(attempt):
                try:
                    failpoints.hit(name, page)
                except failpoints.InjectedFault as exc:
                    where = f" on page {page}" if page is not None else ""
                    assert str(exc) == f"failpoint {name} hit{where}"
                    fired.add((name, page, attempt))
        return fired

    yield points
    settings.cache_clear()


def test_no_spec_never_fires(firing) -> None:
    assert firing("") == set()


def test_a_page_failpoint_fires_for_that_page_on_every_attempt(firing) -> None:
    assert firing("after-dynamodb:3") == {("after-dynamodb", 3, attempt) for attempt in ATTEMPTS}


def test_an_attempt_limited_failpoint_lets_the_retry_through(firing) -> None:
    assert firing("after-s3:2:1, after-dynamodb:4:2") == {
        ("after-s3", 2, 1),
        ("after-dynamodb", 4, 1),
        ("after-dynamodb", 4, 2),
    }


def test_a_failpoint_without_page_fires_everywhere(firing) -> None:
    assert firing("after-publish") == {("after-publish", page, attempt) for page in PAGES for attempt in ATTEMPTS}


def test_the_attempt_is_the_delivery_attempt_of_the_block_and_resets_after_it() -> None:
    with failpoints.attempt(3):
        with failpoints.attempt(1):
            assert failpoints._ATTEMPT.get() == 1
        assert failpoints._ATTEMPT.get() == 3
    assert failpoints._ATTEMPT.get() == 1
