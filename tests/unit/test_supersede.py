"""S3 event order of uploads of one key: sequencers of different lengths compare after zero-padding."""

from __future__ import annotations

from pipeline.jobs.supersede import arrival_order, object_item_id


def _job(sequencer: str | None, event_time: str = "2026-01-01T00:00:00.000Z", job_id: str = "j") -> dict[str, str]:
    return {"job_id": job_id, "sequencer": sequencer or "", "event_time": event_time}


def test_a_longer_sequencer_is_not_older_just_because_it_sorts_so_as_text() -> None:
    assert arrival_order(_job("0A")) > arrival_order(_job("9"))
    assert arrival_order(_job("0065E6F1A2B3C4D5E7")) > arrival_order(_job("0065E6F1A2B3C4D5E6"))
    assert arrival_order(_job("00ff")) == arrival_order(_job("00FF"))


def test_without_sequencers_the_event_time_orders_uploads() -> None:
    assert arrival_order(_job(None, "2026-01-02T00:00:00.000Z")) > arrival_order(_job(None, "2026-01-01T23:59:59.999Z"))


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
    from pipeline.jobs import supersede

    monkeypatch.setattr(supersede.aws, "client", lambda name: s3)
    return s3


def _version(job_id: str, version: str, sequencer: str | None = None) -> dict[str, str]:
    job = {"job_id": job_id, "bucket": "b", "key": "orders/a.csv", "version_id": version, "event_time": "t"}
    return job | ({"sequencer": sequencer} if sequencer else {})


def test_two_notified_uploads_compare_by_sequencer_without_asking_s3(monkeypatch) -> None:
    from pipeline.jobs.supersede import is_newer

    s3 = _use(monkeypatch, FakeS3([]))
    assert is_newer(_version("new", "v2", "0A"), _version("old", "v1", "09"))
    assert not is_newer(_version("old", "v1", "09"), _version("new", "v2", "0A"))
    assert s3.calls == 0


def test_a_swept_upload_without_sequencer_is_ordered_by_s3s_version_listing(monkeypatch) -> None:
    from pipeline.jobs.supersede import is_newer

    versions = [("orders/a.csv", "v3"), ("orders/a.csv", "v2"), ("orders/a.csv", "v1"), ("orders/a.csv.gz", "g1")]
    _use(monkeypatch, FakeS3(versions, page_size=2))
    swept, notified = _version("swept", "v3"), _version("notified", "v2", "FF")
    assert is_newer(swept, notified)  # a zero-padded empty sequencer would have called it older
    assert not is_newer(notified, swept)
    assert is_newer(_version("a", "v2"), _version("b", "v1"))


def test_a_version_deleted_from_the_bucket_counts_as_the_older_one(monkeypatch) -> None:
    from pipeline.jobs.supersede import is_newer

    _use(monkeypatch, FakeS3([("orders/a.csv", "v2")]))
    assert is_newer(_version("kept", "v2"), _version("deleted", "v1", "FF"))
    assert not is_newer(_version("deleted", "v1", "FF"), _version("kept", "v2"))


def test_version_positions_reads_only_the_exact_key_and_stops_after_it(monkeypatch) -> None:
    from pipeline.jobs.supersede import version_positions

    versions = [("orders/a.csv", f"v{n}") for n in range(5, 0, -1)] + [("orders/a.csv.gz", "g1")] * 3
    s3 = _use(monkeypatch, FakeS3(versions, page_size=2))
    assert version_positions("b", "orders/a.csv") == {"v5": 0, "v4": 1, "v3": 2, "v2": 3, "v1": 4}
    assert s3.calls == 3  # the third page reaches orders/a.csv.gz: no fourth call
