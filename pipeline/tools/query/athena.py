"""One SQL client: a pyathena connection built from the stack outputs; driver errors become `QueryError`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.runtime import aws
from pipeline.runtime.errors import TerminalError
from pipeline.tools.pairs import name_value_pairs

PAGE_ROWS = 1000  # rows per GetQueryResults call, Athena's maximum


class QueryError(TerminalError):
    """Athena rejected or failed the query; the message is Athena's reason."""


class QueryParameterError(TerminalError):
    """The query's parameters do not fit its `%(name)s` placeholders."""


@dataclass
class QueryResult:
    """Column names and rows of a finished query, with its id; ``truncated`` when rows were left unfetched."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    query_id: str
    truncated: bool = False


def parse_parameters(pairs: Iterable[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (as `pipeline query -p` takes them) as a dict; a readable error for any other shape."""
    return name_value_pairs(
        pairs,
        lambda pair: QueryParameterError(
            f"a query parameter is NAME=VALUE (used in the SQL as %(NAME)s), not {pair!r}"
        ),
    )


def to_execution_parameters(sql: str, parameters: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``sql`` with its ``%(name)s`` placeholders as Athena's ``?`` (``%%`` as ``%``) and, in order, the SQL
    literal of each one's value (pyathena's formatter: a string quoted with its ``'`` doubled, a number as is, a
    date ``DATE '...'``), for `StartQueryExecution`'s ``ExecutionParameters``: Athena binds them server-side.

    Every ``%`` of the SQL must be ``%(name)s`` with a value, or ``%%`` (as pyformat reads it): a readable
    `QueryParameterError` otherwise.
    """
    from pyathena.formatter import DefaultParameterFormatter

    formatter = DefaultParameterFormatter()
    text: list[str] = []
    values: list[str] = []
    missing: list[str] = []
    last = 0
    i = sql.find("%")
    while i >= 0:
        text.append(sql[last:i])
        after = sql[i + 1 : i + 2]
        if after == "%":
            text.append("%")
            last = i + 2
            i = sql.find("%", last)
            continue
        close = sql.find(")", i) if after == "(" else -1
        if close < 0 or sql[close + 1 : close + 2] != "s":
            shown = sql[max(0, i - 15) : i + 15].replace("\n", " ")
            raise QueryParameterError(
                f"the SQL has a % that is not a %(name)s placeholder at character {i + 1} ({shown!r}): "
                "with -p parameters, write a literal % as %%"
            )
        name = sql[i + 2 : close]
        if name in parameters:
            values.append(formatter.format("%(v)s", {"v": parameters[name]}))
        elif name not in missing:
            missing.append(name)
        text.append("?")
        last = close + 2
        i = sql.find("%", last)
    text.append(sql[last:])
    if missing:
        given = ", ".join(sorted(parameters)) or "none"
        raise QueryParameterError(
            f"the SQL uses %({missing[0]})s but no -p {missing[0]}=VALUE was given"
            + (f" (missing: {', '.join(missing)})" if len(missing) > 1 else "")
            + f"; given: {given}"
        )
    return "".join(text), values


def run_query(
    sql: str,
    *,
    database: str,
    workgroup: str,
    output_location: str,
    parameters: Mapping[str, Any] | None = None,
    max_rows: int | None = None,
) -> QueryResult:
    """Run ``sql`` and fetch its rows page by page, stopping after ``max_rows`` (every row when None).

    ``parameters`` fill ``%(name)s`` placeholders: each becomes a ``?`` and its value's SQL literal goes to
    Athena as an execution parameter, bound by the engine (`to_execution_parameters`), never pasted into the SQL.
    """
    from pyathena import connect
    from pyathena.error import DatabaseError, OperationalError, ProgrammingError

    from pipeline.tools.query.values import TolerantConverter

    sql, bound = to_execution_parameters(sql, parameters) if parameters else (sql, [])
    connection = connect(
        s3_staging_dir=output_location,
        work_group=workgroup,
        schema_name=database,
        region_name=aws.region(),
        poll_interval=0.2,
        converter=TolerantConverter(),  # a value Python cannot hold comes back as its text
    )
    try:
        cursor = connection.cursor()
        cursor.arraysize = PAGE_ROWS
        if bound:
            cursor.execute(sql, bound, paramstyle="qmark")
        else:
            cursor.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        rows: list[tuple[Any, ...]] = []
        while max_rows is None or len(rows) <= max_rows:  # one row past the cap tells that there are more
            want = PAGE_ROWS if max_rows is None else min(PAGE_ROWS, max_rows + 1 - len(rows))
            page = cursor.fetchmany(want)
            rows.extend(tuple(r) for r in page)
            if len(page) < want:
                break
        truncated = max_rows is not None and len(rows) > max_rows
        return QueryResult(columns, rows[:max_rows] if truncated else rows, cursor.query_id or "", truncated)
    except (DatabaseError, OperationalError, ProgrammingError) as exc:
        raise QueryError(str(exc)) from exc
    finally:
        connection.close()
