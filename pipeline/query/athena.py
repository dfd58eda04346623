"""One SQL client: a pyathena connection built from the stack outputs; driver errors become `QueryError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline import aws
from pipeline.errors import TerminalError


class QueryError(TerminalError):
    """Athena rejected or failed the query; the message is Athena's reason."""


@dataclass
class QueryResult:
    """Column names and rows of a finished query, with its id."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    query_id: str


def run_query(
    sql: str, *, database: str, workgroup: str, output_location: str, parameters: dict[str, Any] | None = None
) -> QueryResult:
    """Run ``sql`` (pyformat ``%(name)s`` parameters, never string-built) and fetch every row."""
    from pyathena import connect
    from pyathena.error import DatabaseError, OperationalError

    from pipeline.query.values import TolerantConverter

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
        cursor.execute(sql, parameters or None)
        columns = [d[0] for d in cursor.description or []]
        rows = [tuple(r) for r in cursor.fetchall()]
        return QueryResult(columns, rows, cursor.query_id or "")
    except (DatabaseError, OperationalError) as exc:
        raise QueryError(str(exc)) from exc
    finally:
        connection.close()
