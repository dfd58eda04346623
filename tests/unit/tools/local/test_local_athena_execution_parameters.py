"""The local Athena binds `ExecutionParameters` as Athena does (adapt/athena_execution_parameters.py), through
MiniStack's own request handler and DuckDB; pyathena's pyformat text is the oracle of what the binding means."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from conftest import run_async
from ministack.services import athena, s3
from pyathena.formatter import DefaultParameterFormatter

from pipeline.tools.local.adapt.athena_execution_parameters import patch_athena


async def _request(action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    status, _headers, raw = await athena.handle_request(
        "POST", "/", {"x-amz-target": f"AmazonAthena.{action}"}, json.dumps(body).encode(), {}
    )
    return int(status), json.loads(raw or b"{}")


async def _run(query: str, parameters: list[str] | None, location: str) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"QueryString": query, "ResultConfiguration": {"OutputLocation": location}}
    if parameters is not None:
        body["ExecutionParameters"] = parameters
    status, started = await _request("StartQueryExecution", body)
    if status >= 300:
        return status, started
    query_id = started["QueryExecutionId"]
    for _ in range(200):
        _, got = await _request("GetQueryExecution", {"QueryExecutionId": query_id})
        if got["QueryExecution"]["Status"]["State"] in ("SUCCEEDED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    _, results = await _request("GetQueryResults", {"QueryExecutionId": query_id})
    return status, {"execution": got["QueryExecution"], "results": results}


def test_parameters_are_bound_in_order_and_the_query_is_kept_as_sent() -> None:
    patch_athena()
    patch_athena()  # idempotent
    bucket = f"results-{uuid.uuid4().hex[:12]}"
    assert s3._create_bucket(bucket, b"", {})[0] == 200
    location = f"s3://{bucket}/_athena/"
    query = "SELECT ? AS s, ? AS n, '?' AS q -- ?\n"
    parameters = ["'it''s; DROP TABLE t --'", "41 + 1"]
    status, out = run_async(_run(query, parameters, location))
    assert status == 200
    execution = out["execution"]
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["Query"] == query and execution["ExecutionParameters"] == parameters
    rows = out["results"]["ResultSet"]["Rows"]
    assert [d.get("VarCharValue") for d in rows[1]["Data"]] == ["it's; DROP TABLE t --", "42", "?"]
    oracle = DefaultParameterFormatter().format("SELECT %(s)s AS s", {"s": "it's; DROP TABLE t --"})
    assert oracle == "SELECT 'it''s; DROP TABLE t --' AS s"  # the literal pyathena's qmark style sends


def test_a_count_that_does_not_match_is_refused_in_one_line() -> None:
    patch_athena()
    status, out = run_async(_run("SELECT ?, ?", ["1"], "s3://nowhere/_athena/"))
    assert status == 400 and "expected 2 but found 1" in json.dumps(out)


def test_a_query_without_parameters_is_untouched() -> None:
    patch_athena()
    bucket = f"results-{uuid.uuid4().hex[:12]}"
    assert s3._create_bucket(bucket, b"", {})[0] == 200
    status, out = run_async(_run("SELECT 'a?' AS v", None, f"s3://{bucket}/_athena/"))
    assert status == 200 and out["execution"]["Status"]["State"] == "SUCCEEDED"
    assert "ExecutionParameters" not in out["execution"]
