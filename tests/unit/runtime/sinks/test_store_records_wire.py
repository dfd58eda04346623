"""Pre-built BatchWriteItem bodies: what goes over the wire, batching, and retry of unprocessed items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from conftest import build_items, validate_csv

from pipeline.runtime import aws
from pipeline.runtime.sinks import dynamodb as records

ROW = 'ORD-{:08d},7,2024-03-01T10:00:00Z,,NEW,12.5,EUR,2,true,"say ""hi"""\n'


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Capture every DynamoDB request body; answer with the queued responses (default: nothing unprocessed)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(aws.CALL_LOG_ENV, raising=False)
    monkeypatch.setattr(records.time, "sleep", lambda s: None)
    aws.reset()
    state: dict[str, Any] = {"bodies": [], "responses": []}

    def send(request: Any, **_: Any) -> AWSResponse:
        state["bodies"].append(json.loads(request.body))
        answer = state["responses"].pop(0) if state["responses"] else {}
        return AWSResponse(request.url, 200, {}, _Raw(json.dumps(answer).encode()))

    aws.client("dynamodb").meta.events.register("before-send.dynamodb.BatchWriteItem", send)
    yield state
    aws.reset()


def _page(orders_contract: Any, rows: int) -> Any:
    return validate_csv(orders_contract, "".join(ROW.format(i) for i in range(1, rows + 1)))


def test_bodies_carry_the_items_in_batches_of_25(orders_contract: Any, wire: dict[str, Any]) -> None:
    page = _page(orders_contract, 60)
    items = records.encode_items(page.table, orders_contract, "job-1", page.lines)
    assert records.write_items("records", items, writers=3) == 60
    sent = sorted(
        (put["PutRequest"]["Item"] for body in wire["bodies"] for put in body["RequestItems"]["records"]),
        key=lambda item: item["pk"]["S"],
    )
    assert sorted(len(body["RequestItems"]["records"]) for body in wire["bodies"]) == [10, 25, 25]
    assert sent == build_items(page.table, orders_contract, "job-1", page.lines.tolist())
    assert sent[0]["note"] == {"S": 'say "hi"'}


def test_unprocessed_items_are_sent_again(orders_contract: Any, wire: dict[str, Any]) -> None:
    page = _page(orders_contract, 3)
    items = build_items(page.table, orders_contract, "job-1", page.lines.tolist())
    wire["responses"].append({"UnprocessedItems": {"records": [{"PutRequest": {"Item": items[1]}}]}})
    assert records.write_items("records", items) == 3
    first, second = wire["bodies"]
    assert len(first["RequestItems"]["records"]) == 3
    assert second == {"RequestItems": {"records": [{"PutRequest": {"Item": items[1]}}]}}


def test_items_that_stay_unprocessed_fail_the_page(orders_contract: Any, wire: dict[str, Any]) -> None:
    page = _page(orders_contract, 1)
    items = records.encode_items(page.table, orders_contract, "job-1", page.lines)
    [item] = build_items(page.table, orders_contract, "job-1", page.lines)
    wire["responses"].extend([{"UnprocessedItems": {"records": [{"PutRequest": {"Item": item}}]}}] * 10)
    with pytest.raises(records.UnprocessedItemsError):
        records.write_items("records", items)


def test_other_calls_on_the_same_client_are_untouched(wire: dict[str, Any]) -> None:
    client = aws.client("dynamodb")
    records._dynamodb()
    client.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {"pk": {"S": "plain"}}}}]})
    assert wire["bodies"] == [{"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "plain"}}}}]}}]


def test_nothing_to_write_sends_nothing(orders_contract: Any, wire: dict[str, Any]) -> None:
    page = _page(orders_contract, 0)
    assert records.write_items("records", records.encode_items(page.table, orders_contract, "j", page.lines)) == 0
    assert wire["bodies"] == []
