"""Fixtures of the conformance suite."""

from __future__ import annotations

import pytest

from tests.conformance import hive_serde


@pytest.fixture
def hive() -> None:
    """Hive's SerDe is there (pyspark from the `conformance` extra, and Java), or the test skips (fails in CI)."""
    hive_serde.require()
