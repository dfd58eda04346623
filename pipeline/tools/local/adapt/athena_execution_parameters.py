"""Run MiniStack with Athena's server-side execution parameters (`StartQueryExecution`'s `ExecutionParameters`).

Athena binds each `?` of the query, in order, to one entry of `ExecutionParameters` (each the SQL text of a
literal: `'O''Brien'`, `5`, `DATE '2025-01-31'`) and keeps the query text as sent; pyathena sends them with
`paramstyle="qmark"`, `pipeline query -p` and `pipeline.query_df(params=...)` always do. MiniStack 1.5 ignores
the field and hands the `?` to DuckDB, which fails with `Values were not provided for the following
parameters` (docs/local-cloud.md).

`start_query_execution` wraps MiniStack's `_start_query_execution` (looked up by its request handler at call
time): it binds the parameters into the text DuckDB runs, then gives the stored execution back the query as
sent and its `ExecutionParameters`, as `GetQueryExecution` returns them on AWS. A count that does not match
the query's `?` fails the request with Trino's message, as Athena does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pipeline.tools.local.adapt.wrapping import replace

if TYPE_CHECKING:
    from pipeline.tools.local.launcher import LaunchContext

_QUOTES = "'\"`"


def placeholders(sql: str) -> Iterator[int]:
    """Offsets of the `?` placeholders of ``sql``: outside string literals, quoted names and comments."""
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch in _QUOTES:
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if sql[j + 1 : j + 2] == ch:  # a doubled quote is one quote character
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
        else:
            if ch == "?":
                yield i
            i += 1


class ParameterCountError(ValueError):
    """The number of execution parameters differs from the query's `?` placeholders."""


def bind(sql: str, parameters: Sequence[str]) -> str:
    """``sql`` with its `?` placeholders replaced, in order, by ``parameters`` (each a literal's SQL text)."""
    offsets = list(placeholders(sql))
    if len(offsets) != len(parameters):
        raise ParameterCountError(
            f"Incorrect number of parameters: expected {len(offsets)} but found {len(parameters)}"
        )
    parts: list[str] = []
    last = 0
    for offset, value in zip(offsets, parameters, strict=True):
        parts.extend((sql[last:offset], value))
        last = offset + 1
    parts.append(sql[last:])
    return "".join(parts)


def start_query_execution(data: dict[str, Any]) -> Any:
    """MiniStack's `StartQueryExecution`, with `ExecutionParameters` bound as Athena binds them."""
    from ministack.core.responses import error_response_json
    from ministack.services import athena

    original: Callable[[dict[str, Any]], Any] = start_query_execution.__wrapped__  # type: ignore[attr-defined]
    parameters = data.get("ExecutionParameters")
    if not parameters:
        return original(data)
    query = str(data.get("QueryString", ""))
    try:
        bound = bind(query, [str(p) for p in parameters])
    except ParameterCountError as exc:
        return error_response_json("InvalidRequestException", f"INVALID_PARAMETER_USAGE: {exc}", 400)
    response = original({**data, "QueryString": bound})
    query_id = _query_id(response)
    execution = athena._executions.get(query_id) if query_id else None
    if execution is not None:
        execution["Query"] = query
        execution["ExecutionParameters"] = list(parameters)
    return response


def _query_id(response: Any) -> str | None:
    """The `QueryExecutionId` of MiniStack's ``(status, headers, body)`` response, None for an error."""
    try:
        status, _headers, body = response
        if int(status) >= 300:
            return None
        return str(json.loads(body)["QueryExecutionId"])
    except (TypeError, ValueError, KeyError):
        return None


def patch_athena() -> None:
    """Install the binding into MiniStack's Athena (idempotent)."""
    from ministack.services import athena

    replace(athena, "_start_query_execution", lambda _original: start_query_execution, "_pipeline_parameters")


def install(app: ModuleType, context: LaunchContext) -> None:
    patch_athena()
