"""S3 event order of uploads of one key: sequencers compare as AWS says, right-padded with zeros."""

from __future__ import annotations

import itertools

import pytest

from pipeline.jobs.supersede import arrival_order, object_item_id


def _job(sequencer: str | None, event_time: str = "2026-01-01T00:00:00.000Z", job_id: str = "j") -> dict[str, str]:
    return {"job_id": job_id, "sequencer": sequencer or "", "event_time": event_time}


def aws_newer(a: str, b: str) -> int:
    """The documented rule, literally: "first right pad the shorter value with zeros, and then do a
    lexicographical comparison" (S3 event message structure). 1 if a is newer, -1 if older, 0 if the same."""
    width = max(len(a), len(b))
    a, b = a.upper().ljust(width, "0"), b.upper().ljust(width, "0")
    return (a > b) - (a < b)


def _order(a: str, b: str) -> int:
    x, y = arrival_order(_job(a)), arrival_order(_job(b))
    return (x > y) - (x < y)


# Sequencers as S3 sends them: 16 or 18 upper-case hex digits (the documented example is 0055AED6DCD90281E5).
REAL = ["0055AED6DCD90281E5", "0055AED6DCD90282", "0055AED6DCD9028200", "0055AED6DCD90281E500", "0066A2B3C4D5E6F7"]


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(REAL, 2)))
def test_sequencers_of_different_lengths_compare_right_padded(a, b):
    assert _order(a, b) == aws_newer(a, b)


def test_a_shorter_sequencer_can_be_the_newer_one():
    # left-padding would read 0055AED6DCD90282 as 000055AED6DCD90282, older than 0055AED6DCD90281E5
    assert arrival_order(_job("0055AED6DCD90282")) > arrival_order(_job("0055AED6DCD90281E5"))
    assert arrival_order(_job("9")) > arrival_order(_job("0A"))


def test_trailing_zeros_do_not_make_a_sequencer_newer():
    assert _order("0055AED6DCD9028200", "0055AED6DCD90282") == 0
    assert arrival_order(_job("00ff")) == arrival_order(_job("00FF"))


def test_equal_sequencers_fall_back_to_event_time_then_job_id():
    early = arrival_order(_job("0055AED6DCD90282", "2026-01-01T00:00:00.000Z", "b"))
    late = arrival_order(_job("0055AED6DCD9028200", "2026-01-01T00:00:01.000Z", "a"))
    assert late > early
    assert arrival_order(_job("5", job_id="b")) > arrival_order(_job("5", job_id="a"))


def test_without_sequencers_the_event_time_orders_uploads() -> None:
    assert arrival_order(_job(None, "2026-01-02T00:00:00.000Z")) > arrival_order(_job(None, "2026-01-01T23:59:59.999Z"))


def test_orders_written_before_sort_below_every_new_one():
    old_style = f"{'0055AED6DCD90282':0>40}|2026-01-01T00:00:00.000Z|j"  # left-padded, as stored before
    assert arrival_order(_job("")) > old_style and arrival_order(_job("0")) > old_style


hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

HEX = st.text(alphabet="0123456789ABCDEFabcdef", min_size=1, max_size=24)


@settings(max_examples=500, deadline=None, database=None)
@given(HEX, HEX, st.sampled_from(["", "0", "00", "000"]))
def test_any_two_sequencers_compare_as_aws_documents(a, b, zeros):
    assert _order(a, b + zeros) == aws_newer(a, b + zeros)
    assert _order(a, a + zeros) == 0


def test_each_object_key_has_its_own_latest_item() -> None:
    assert object_item_id("b", "orders/a.csv") != object_item_id("b", "orders/b.csv")
    assert object_item_id("b", "orders/a.csv") == object_item_id("b", "orders/a.csv")
    assert object_item_id("b", "orders/a.csv").startswith("OBJECT#")
