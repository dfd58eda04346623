"""Run MiniStack with Athena's reading of a Parquet table: the Glue table's columns, by name, NULL where absent.

Athena (Trino's Hive connector) reads a Parquet table's columns by name and gives each the table's type; a column
a file lacks (a nullable column appended to the contract after the file was written, a safe change) reads NULL,
and a column the table does not declare is not there. MiniStack 1.5 reads a Parquet table as DuckDB's
`read_parquet(files, union_by_name = true)` alone: the columns and types are the files', so a column no file has
yet fails the query (`Referenced column "channel" not found`). `patch_athena` wraps MiniStack's table relation
to select the table's columns (and partition keys) in the table's order and types from a union by name with
MiniStack's own empty relation of the table (`athena._empty_relation`); nothing of MiniStack is copied
(docs/local-cloud.md).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pipeline.tools.local.adapt.wrapping import replace

if TYPE_CHECKING:
    from pipeline.tools.local.launcher import LaunchContext

_PARQUET = "read_parquet("


def with_table_columns(relation: str, table: dict[str, Any]) -> str:
    """``relation`` (MiniStack's DuckDB SQL for ``table``) giving exactly the table's columns, typed by it."""
    from ministack.services import athena

    storage = table.get("StorageDescriptor") or {}
    columns = (storage.get("Columns") or []) + (table.get("PartitionKeys") or [])
    if athena._data_format(table) != "parquet" or not columns or not relation.startswith(_PARQUET):
        return relation
    projected = []
    for column in columns:
        name = str(column.get("Name", "")).replace('"', '""')
        projected.append(f'CAST("{name}" AS {athena._duckdb_type(column)}) AS "{name}"')
    template = athena._empty_relation(table)
    return f"(SELECT {', '.join(projected)} FROM (SELECT * FROM {template} UNION ALL BY NAME SELECT * FROM {relation}))"


def patch_athena() -> None:
    """Make MiniStack's Athena read a Parquet table by the Glue table's columns (idempotent)."""
    from ministack.services import athena

    def wrap(original: Callable[[dict[str, Any], list[str]], str]) -> Callable[[dict[str, Any], list[str]], str]:
        def table_relation(table_data: dict[str, Any], files: list[str]) -> str:
            return with_table_columns(original(table_data, files), table_data)

        return table_relation

    replace(athena, "_table_relation", wrap, "_pipeline_parquet_columns")


def install(app: ModuleType, context: LaunchContext) -> None:
    patch_athena()
