"""Run MiniStack with Athena's result files where, and as, AWS writes them.

Clients that read a query's result file rather than `GetQueryResults` (pyathena's `PandasCursor` and
`ArrowCursor`, `awswrangler.athena.read_sql_query(..., ctas_approach=False)`) need it exactly at the reported
`OutputLocation` and in Athena's CSV dialect. MiniStack 1.5 differs in both (docs/local-cloud.md):

* it reports `<location><id>.csv` but writes `<location><id>.csv/<id>.csv` (HeadObject 404 for every client);
* it writes Python's minimal quoting with CRLF line ends, so NULL and an empty string are both an empty field,
  and booleans read `True`/`False`. Athena quotes every value (`""` is an empty string), writes NULL as an empty
  unquoted field, ends lines with LF, and writes each value as `GetQueryResults` returns it.

MiniStack also keeps each execution's rows as DuckDB returned them (dates, Decimals) and its state save, which
writes them as JSON, then fails for all of Athena ("Object of type date is not JSON serializable"): `pipeline
local stop` keeps none of the session's state. The writer keeps such values as the text `GetQueryResults`
returns for them anyway (`athena._datum_text`), so results read the same and the state saves.

`save_query_results` replaces MiniStack's `_save_query_results` (looked up by `_execute_query` at call time)
with our writer of Athena's format; it reads the finished execution and writes through MiniStack's own S3 store
and value text (`athena._datum_text`, `s3._put_object`), nothing of MiniStack copied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from pipeline.tools.local.adapt.wrapping import replace

if TYPE_CHECKING:
    from pipeline.tools.local.launcher import LaunchContext


def _field(value: Any, text: Callable[[Any], str]) -> str:
    if value is None:
        return ""
    return '"' + text(value).replace('"', '""') + '"'


_JSON_SCALARS = (str, int, float, bool, type(None))


def plain_rows(rows: Iterable[Sequence[Any]], text: Callable[[Any], str] = str) -> list[list[Any]]:
    """Rows with every value JSON cannot hold (date, datetime, Decimal, bytes, lists of them) as ``text(value)``."""
    return [[v if isinstance(v, _JSON_SCALARS) else text(v) for v in row] for row in rows]


def result_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]], text: Callable[[Any], str] = str) -> bytes:
    """Athena's result file: a header of column names, every value quoted, NULL an empty unquoted field, LF."""
    lines = [",".join(_field(name, str) for name in columns)]
    lines.extend(",".join(_field(value, text) for value in row) for row in rows)
    return ("\n".join(lines) + "\n").encode("utf-8") if columns else b""


def result_metadata(columns: Sequence[str], types: Sequence[str]) -> bytes:
    """The `.metadata` object beside the result: column names and types (Athena's own is binary; no client reads it)."""
    return ("\n".join((",".join(columns), ",".join(types))) + "\n").encode("utf-8")


def _split(location: str) -> tuple[str, str]:
    parsed = urlparse(location)
    return parsed.netloc, parsed.path.lstrip("/")


def _s3_error(response: Any) -> str | None:
    """MiniStack's `_put_object` returns ``(status, headers, body)``; the S3 error text when it failed."""
    if not isinstance(response, tuple) or not response or int(response[0]) < 300:
        return None
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(response[2])
        return f"{root.findtext('Code', 'UnknownError')}: {root.findtext('Message', '')}"
    except (ET.ParseError, TypeError, IndexError):
        return f"HTTP {response[0]}"


async def save_query_results(query_id: str) -> None:
    """Write a finished query's rows to exactly its `OutputLocation` (and `.metadata`), in Athena's CSV."""
    from ministack.services import athena, s3

    execution = athena._executions.get(query_id)
    if not execution:
        return
    results = execution.get("_results") or {"columns": [], "rows": []}
    results["rows"] = plain_rows(results.get("rows") or [], athena._datum_text)
    columns = list(results.get("columns") or [])
    types = list(execution.get("_column_types") or ["varchar"] * len(columns))
    bucket, key = _split(execution["ResultConfiguration"]["OutputLocation"])
    objects = (
        (key, result_csv(columns, results["rows"], athena._datum_text), "text/csv"),
        (f"{key}.metadata", result_metadata(columns, types), "application/octet-stream"),
    )
    for object_key, body, content_type in objects:
        error = _s3_error(
            s3._put_object(bucket, object_key, body, {"content-type": content_type, "content-length": str(len(body))})
        )
        if error:
            execution["Status"]["State"] = "FAILED"
            execution["Status"]["StateChangeReason"] = f"An error occurred while writing to S3. {error}"
            return


def patch_athena() -> None:
    """Install the result writer into MiniStack's Athena (idempotent)."""
    from ministack.services import athena

    replace(athena, "_save_query_results", lambda _original: save_query_results, "_pipeline_results")


def install(app: ModuleType, context: LaunchContext) -> None:
    patch_athena()
