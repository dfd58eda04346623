"""The AWS call log hook: one JSON line per API call when PIPELINE_CALL_LOG is set, nothing otherwise."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.stub import Stubber

from pipeline.runtime import aws


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv(aws.CALL_LOG_ENV, raising=False)
    aws.reset()
    yield
    aws.reset()


def _batch_write(table: str = "records") -> None:
    client = aws.client("dynamodb")
    with Stubber(client) as stub:
        stub.add_response("batch_write_item", {})
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})


def test_nothing_is_logged_without_the_variable(offline: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _batch_write()
    assert list(tmp_path.iterdir()) == []


def test_each_call_is_one_json_line(offline: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv(aws.CALL_LOG_ENV, str(log))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "pipeline-x-page-worker")
    aws.reset()
    _batch_write()
    s3 = aws.client("s3")
    with Stubber(s3) as stub:
        stub.add_response("put_object", {}, {"Bucket": "b", "Key": "k/1.tsv", "Body": b"x"})
        s3.put_object(Bucket="b", Key="k/1.tsv", Body=b"x")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == [
        {
            "function": "pipeline-x-page-worker",
            "service": "dynamodb",
            "operation": "BatchWriteItem",
            "params": {"RequestItems": ["records"]},
        },
        {
            "function": "pipeline-x-page-worker",
            "service": "s3",
            "operation": "PutObject",
            "params": {"Bucket": "b", "Key": "k/1.tsv", "Bytes": 1},
        },
    ]


def test_a_put_logs_its_body_size_as_bytes_or_as_the_file_botocore_wraps_them_in() -> None:
    assert aws._call_params({"Bucket": "b", "Body": b"abc"}) == {"Bucket": "b", "Bytes": 3}
    assert aws._call_params({"Bucket": "b", "Body": io.BytesIO(b"abcd")}) == {"Bucket": "b", "Bytes": 4}
    assert aws._call_params({"Bucket": "b", "Body": "text"}) == {"Bucket": "b"}


def test_transact_items_name_their_tables() -> None:
    params = {
        "TransactItems": [
            {"Put": {"TableName": "jobs", "Item": {}}},
            {"ConditionCheck": {"TableName": "pages", "Key": {}}},
        ]
    }
    logged = aws._call_params(params)["TransactItems"]
    assert sorted(entry.rsplit(":", 1)[-1] for entry in logged) == ["jobs", "pages"]


def test_item_keys_and_values_are_not_logged() -> None:
    params = {"TableName": "jobs", "Key": {"job_id": {"S": "secret"}}, "Item": {"a": {"S": "b"}}}
    assert aws._call_params(params) == {"TableName": "jobs"}
