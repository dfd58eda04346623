"""Run MiniStack with the Athena behaviour of AWS that the output format needs: LazySimpleSerDe's null format.

MiniStack's Athena reads a LazySimpleSerDe text table with DuckDB's `read_csv`, which takes the field
delimiter from the SerDe but ignores `serialization.null.format`: every empty field is NULL and the null
sequence `\\N` is text. Hive, Trino and so Athena compare each raw field with the null format instead
(default `\\N`). `patch_athena` wraps MiniStack's table relation to pass that comparison on to DuckDB as
`nullstr`; nothing of MiniStack is copied (docs/local-cloud.md).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

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


def wrapped_by(function: Any, marker: str) -> bool:
    """Whether ``function`` or one it wraps (`__wrapped__`, all the way down) carries ``marker``."""
    while function is not None:
        if getattr(function, marker, False):
            return True
        function = getattr(function, "__wrapped__", None)
    return False


def patch_athena() -> None:
    """Make MiniStack's Athena honour `serialization.null.format` (idempotent)."""
    from ministack.services import athena

    original = athena._table_relation
    if wrapped_by(original, "_pipeline_null_format"):  # under another adaptation's wrapper, too
        return

    def table_relation(table_data: dict[str, Any], files: list[str]) -> str:
        return with_null_format(original(table_data, files), table_data)

    table_relation._pipeline_null_format = True  # type: ignore[attr-defined]
    table_relation.__wrapped__ = original  # type: ignore[attr-defined]
    athena._table_relation = table_relation


def install(app: ModuleType, context: LaunchContext) -> None:
    patch_athena()
