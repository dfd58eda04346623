"""Run MiniStack with the Athena behaviour of AWS that the output format needs: LazySimpleSerDe's null format.

MiniStack's Athena reads a LazySimpleSerDe text table with DuckDB's `read_csv`, which takes the field
delimiter from the SerDe but ignores `serialization.null.format`: every empty field is NULL and the null
sequence `\\N` is text. Hive, Trino and so Athena compare each raw field with the null format instead
(default `\\N`). `patch_athena` wraps MiniStack's table relation to pass that comparison on to DuckDB as
`nullstr`; nothing of MiniStack is copied (docs/local-cloud.md).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from pipeline.tools.local.adapt.wrapping import replace

if TYPE_CHECKING:
    from pipeline.tools.local.launcher import LaunchContext

LAZY_SIMPLE_SERDE = "LazySimpleSerDe"
HIVE_DEFAULT_NULL_FORMAT = "\\N"
_ANCHOR = "null_padding = true"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def with_null_format(relation: str, table: dict[str, Any]) -> str:
    """``relation`` (MiniStack's DuckDB SQL for ``table``) reading the table's null format as NULL."""
    serde = (table.get("StorageDescriptor") or {}).get("SerdeInfo") or {}
    if LAZY_SIMPLE_SERDE not in (serde.get("SerializationLibrary") or "") or _ANCHOR not in relation:
        return relation
    null_format = (serde.get("Parameters") or {}).get("serialization.null.format", HIVE_DEFAULT_NULL_FORMAT)
    return relation.replace(_ANCHOR, f"nullstr = {_literal(null_format)}, {_ANCHOR}", 1)


def patch_athena() -> None:
    """Make MiniStack's Athena honour `serialization.null.format` (idempotent)."""
    from ministack.services import athena

    def wrap(original: Callable[[dict[str, Any], list[str]], str]) -> Callable[[dict[str, Any], list[str]], str]:
        def table_relation(table_data: dict[str, Any], files: list[str]) -> str:
            return with_null_format(original(table_data, files), table_data)

        return table_relation

    replace(athena, "_table_relation", wrap, "_pipeline_null_format")


def install(app: ModuleType, context: LaunchContext) -> None:
    patch_athena()
