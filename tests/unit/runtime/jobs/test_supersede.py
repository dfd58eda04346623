"""S3 event order of uploads of one key: sequencers compare as AWS says, right-padded with zeros."""

from __future__ import annotations

import itertools

import pytest

from pipeline.runtime.jobs.supersede import arrival_order, object_item_id


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


# ------------------------------------------------------------------ is_newer: the one place that orders versions


class FakeS3:
    """`ListObjectVersions` over versions given newest first per key, in pages of ``page_size``."""

    def __init__(self, versions: list[tuple[str, str]], page_size: int = 1000) -> None:
        self.versions = sorted(versions, key=lambda v: v[0])  # stable: each key's versions stay newest first
        self.page_size = page_size
        self.calls = 0

    def list_object_versions(self, Bucket: str, Prefix: str, KeyMarker: str = "", VersionIdMarker: str = "") -> dict:
        self.calls += 1
        listed = [v for v in self.versions if v[0].startswith(Prefix)]
        if KeyMarker:
            at = next(i for i, v in enumerate(listed) if v == (KeyMarker, VersionIdMarker))
            listed = listed[at + 1 :]
        page, rest = listed[: self.page_size], listed[self.page_size :]
        response: dict = {"Versions": [{"Key": k, "VersionId": v} for k, v in page], "IsTruncated": bool(rest)}
        if rest:
            response.update(NextKeyMarker=page[-1][0], NextVersionIdMarker=page[-1][1])
        return response


def _use(monkeypatch, s3: FakeS3) -> FakeS3:
    from pipeline.runtime.jobs import supersede

    monkeypatch.setattr(supersede.aws, "client", lambda name: s3)
    return s3


def _version(job_id: str, version: str, sequencer: str | None = None) -> dict[str, str]:
    job = {"job_id": job_id, "bucket": "b", "key": "orders/a.csv", "version_id": version, "event_time": "t"}
    return job | ({"sequencer": sequencer} if sequencer else {})


def test_two_notified_uploads_compare_by_sequencer_without_asking_s3(monkeypatch) -> None:
    from pipeline.runtime.jobs.supersede import is_newer

    s3 = _use(monkeypatch, FakeS3([]))
    assert is_newer(_version("new", "v2", "0A"), _version("old", "v1", "09"))
    assert not is_newer(_version("old", "v1", "09"), _version("new", "v2", "0A"))
    assert s3.calls == 0


def test_a_swept_upload_without_sequencer_is_ordered_by_s3s_version_listing(monkeypatch) -> None:
    from pipeline.runtime.jobs.supersede import is_newer

    versions = [("orders/a.csv", "v3"), ("orders/a.csv", "v2"), ("orders/a.csv", "v1"), ("orders/a.csv.gz", "g1")]
    _use(monkeypatch, FakeS3(versions, page_size=2))
    swept, notified = _version("swept", "v3"), _version("notified", "v2", "FF")
    assert is_newer(swept, notified)  # a zero-padded empty sequencer would have called it older
    assert not is_newer(notified, swept)
    assert is_newer(_version("a", "v2"), _version("b", "v1"))


def test_a_version_deleted_from_the_bucket_counts_as_the_older_one(monkeypatch) -> None:
    from pipeline.runtime.jobs.supersede import is_newer

    _use(monkeypatch, FakeS3([("orders/a.csv", "v2")]))
    assert is_newer(_version("kept", "v2"), _version("deleted", "v1", "FF"))
    assert not is_newer(_version("deleted", "v1", "FF"), _version("kept", "v2"))


def test_version_positions_reads_only_the_exact_key_and_stops_after_it(monkeypatch) -> None:
    from pipeline.runtime.jobs.supersede import version_positions

    versions = [("orders/a.csv", f"v{n}") for n in range(5, 0, -1)] + [("orders/a.csv.gz", "g1")] * 3
    s3 = _use(monkeypatch, FakeS3(versions, page_size=2))
    assert version_positions("b", "orders/a.csv") == {"v5": 0, "v4": 1, "v3": 2, "v2": 3, "v1": 4}
    assert s3.calls == 3  # the third page reaches orders/a.csv.gz: no fourth call
