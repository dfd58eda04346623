"""The matrix without a cloud: the page code renders the output objects in-process, the file readers read them.

`render_objects` runs a CSV file through the same functions a page processor calls (parse, validate, store
rules, `partition_files`); `duckdb_rows` reads objects the way the local Athena does, through MiniStack's own
table relation (with the local cloud's workarounds applied, `pipeline.tools.local.adapt.athena_null_format` and
`athena_parquet_columns`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from pipeline.runtime.contract import Contract
from pipeline.runtime.rows.parse import parse_page
from pipeline.runtime.rows.store_rules import apply_store_rules
from pipeline.runtime.rows.validate import validate_page
from pipeline.runtime.sinks.results import partition_files
from pipeline.tools.deploy.datasets import glue_table


def table_input(contract: Contract) -> dict[str, Any]:
    """The Glue `TableInput` the template deploys for ``contract``."""
    return glue_table(contract)["Properties"]["TableInput"]


def render_objects(contract: Contract, body: bytes) -> dict[str, bytes]:
    """The output objects (keys relative to the table location) of a CSV file processed as one page."""
    text = body.decode("utf-8-sig")
    header_line, _, _ = text.partition("\n")
    header = [h.strip('"') for h in header_line.rstrip("\r").split(",")]
    records = body[body.index(b"\n") + 1 :]
    parsed = parse_page(records, header, first_line=2)
    page = apply_store_rules(validate_page(parsed, contract), parsed, contract)
    assert not page.rejects, [(r.line, r.reasons) for r in page.rejects[:5]]
    files = partition_files(page.table, contract, "job", 1)
    return {key.removeprefix(f"{contract.dataset}/"): data for key, (data, _) in files.items()}


def duckdb_rows(table: dict[str, Any], files: dict[str, bytes]) -> list[dict[str, Any]]:
    """`SELECT *` of the table over ``files`` as MiniStack's Athena runs it on DuckDB."""
    import duckdb
    from ministack.services import athena

    from pipeline.tools.local.adapt import athena_null_format, athena_parquet_columns

    athena_null_format.patch_athena()
    athena_parquet_columns.patch_athena()
    root = Path(tempfile.mkdtemp(prefix="conformance-duckdb-"))
    try:
        paths = []
        for key, data in files.items():
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths.append(str(path))
        relation = athena._table_relation(table, sorted(paths))
        connection = duckdb.connect(":memory:")
        connection.execute("SET disabled_optimizers = 'type_pushdown'")
        result = connection.execute(f"SELECT * FROM {relation}")
        names = [d[0] for d in result.description]
        return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
    finally:
        shutil.rmtree(root, ignore_errors=True)
