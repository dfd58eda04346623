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
