"""Contract evolution: classify every change between the deployed contract and the one in `schemas/`.

The output is positional text (ADR 1): Athena reads the n-th field of a line as the table's n-th column, and a
partition is read with the column list it was registered with (Trino uses the partition's own storage
descriptor). So a change is judged by what it does to the files already written:

* **safe**: every stored row still reads correctly and still meets the contract: a nullable column appended
  after the existing ones (old lines have fewer fields, the new column reads NULL), a relaxed rule, an added
  enum value, integer widened to number (`bigint` text reads as `double`), a column made nullable or optional;
* **stricter**: the layout is unchanged, but rows stored earlier were not checked against the new rule (a
  tighter bound, a removed enum value, a new pattern, a column made non-null, other null spellings, a required
  column appended): applied only with `--allow-stricter NAME`, which says old rows are not re-checked;
* **unsafe**: the layout changes and old files would be misread: a column removed, renamed, reordered, added
  before others, or retyped (other than integer to number), the primary key or the partition changed, a dataset
  removed. Refused, with the ways forward: a new dataset version (`orders_v2`), or `--archive-output NAME`,
  which moves the dataset's output under `_archive/` and drops its partitions before the new layout is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pipeline.runtime.contract import Column, Contract


class Level(IntEnum):
    """How a change affects the data already written (higher is worse)."""

    SAFE = 0
    STRICTER = 1
    UNSAFE = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Change:
    """One difference between the deployed contract of a dataset and the new one."""

    dataset: str
    column: str | None
    what: str
    level: Level
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "column": self.column,
            "change": self.what,
            "level": str(self.level),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class DatasetDiff:
    """Every change of one dataset and the verdict (the worst of them)."""

    dataset: str
    status: str  # new, removed, changed, unchanged
    changes: tuple[Change, ...]

    @property
    def level(self) -> Level:
        return max((c.level for c in self.changes), default=Level.SAFE)

    def ways_forward(self) -> str:
        if self.level is Level.UNSAFE:
            return (
                f"deploy it as a new dataset version (copy schemas/{self.dataset}.schema.json to "
                f"schemas/{self.dataset}_v2.schema.json, change that one and upload under {self.dataset}_v2/), or "
                f"pass --archive-output {self.dataset} to move its output to _archive/{self.dataset}/ and drop its "
                "partitions before the new layout is deployed"
            )
        if self.level is Level.STRICTER:
            return (
                f"pass --allow-stricter {self.dataset} to apply it to new files (rows already stored are not "
                f"re-checked), or --archive-output {self.dataset} to start the table afresh"
            )
        return ""

    def message(self) -> str:
        listed = "; ".join(f"{c.column or '(dataset)'}: {c.detail}" for c in self.changes if c.level)
        return f"dataset {self.dataset!r} has {self.level} changes ({listed}): {self.ways_forward()}"


_BOUNDS = (
    ("minimum", "minimum", -1),
    ("exclusive_minimum", "exclusiveMinimum", -1),
    ("maximum", "maximum", 1),
    ("exclusive_maximum", "exclusiveMaximum", 1),
    ("min_length", "minLength", -1),
    ("max_length", "maxLength", 1),
)


def _type_label(column: Column) -> str:
    return {"timestamp": "date-time"}.get(column.kind, column.kind)


def _column_changes(dataset: str, old: Column, new: Column, output_format: str = "text") -> list[Change]:
    out: list[Change] = []
    name = old.name

    def add(what: str, level: Level, detail: str) -> None:
        out.append(Change(dataset, name, what, level, detail))

    if old.kind != new.kind:
        if (old.kind, new.kind) == ("integer", "number") and output_format == "text":
            add("widen type", Level.SAFE, "integer widened to number (bigint text reads as double)")
        elif (old.kind, new.kind) == ("integer", "number"):
            add(
                "change type",
                Level.UNSAFE,
                "integer -> number in a Parquet dataset: stored files hold int64 columns, which not every reader "
                "widens to double",
            )
        else:
            add(
                "change type",
                Level.UNSAFE,
                f"type {_type_label(old)} -> {_type_label(new)}: stored values would be read as {new.glue_type}",
            )
    if old.nullable != new.nullable:
        if new.nullable:
            add("allow nulls", Level.SAFE, "now nullable")
        else:
            add("forbid nulls", Level.STRICTER, "now non-null: stored rows may hold nulls")
    if old.required != new.required:
        if new.required:
            add("require", Level.STRICTER, "now required in every file's header")
        else:
            add("make optional", Level.SAFE, "no longer required in the header")
    if old.enum != new.enum:
        before, after = set(old.enum or ()), set(new.enum or ())
        if new.enum is None:
            add("drop enum", Level.SAFE, "any value allowed (enum removed)")
        elif old.enum is None:
            add("add enum", Level.STRICTER, f"values limited to {', '.join(map(str, new.enum))}")
        elif before <= after:
            add("add enum values", Level.SAFE, f"enum gains {', '.join(map(str, sorted(after - before, key=str)))}")
        else:
            add(
                "remove enum values",
                Level.STRICTER,
                f"enum loses {', '.join(map(str, sorted(before - after, key=str)))}",
            )
    for attribute, keyword, relaxed_direction in _BOUNDS:
        a, b = getattr(old, attribute), getattr(new, attribute)
        if a == b:
            continue
        if b is None or (a is not None and (b - a) * relaxed_direction > 0):
            add(f"relax {keyword}", Level.SAFE, f"{keyword} {a} -> {b if b is not None else 'none'}")
        else:
            add(f"tighten {keyword}", Level.STRICTER, f"{keyword} {a if a is not None else 'none'} -> {b}")
    if old.pattern != new.pattern:
        if new.pattern is None:
            add("drop pattern", Level.SAFE, f"pattern {old.pattern} removed")
        else:
            add("change pattern", Level.STRICTER, f"pattern {old.pattern or 'none'} -> {new.pattern}")
    return out


def _layout_changes(dataset: str, old: Contract, new: Contract) -> list[Change]:
    out: list[Change] = []
    before, after = old.column_names, new.column_names
    removed = [n for n in before if n not in after]
    added = [n for n in after if n not in before]
    renamed: dict[str, str] = {}
    for gone in removed:
        i = before.index(gone)
        candidate = after[i] if i < len(after) else None
        if candidate in added and old.column(gone).kind == new.column(candidate).kind:
            renamed[gone] = candidate
    for gone in removed:
        if gone in renamed:
            out.append(
                Change(
                    dataset,
                    gone,
                    "rename",
                    Level.UNSAFE,
                    f"looks renamed to {renamed[gone]}: old files hold it under its position, Athena would "
                    f"show it as {renamed[gone]} only if nothing else moved; rename is not supported",
                )
            )
        else:
            out.append(
                Change(
                    dataset,
                    gone,
                    "remove",
                    Level.UNSAFE,
                    "removed: every later field of the old files would be read as the wrong column",
                )
            )
    kept_before = [n for n in before if n in after]
    kept_after = [n for n in after if n in before]
    if kept_before != kept_after:
        moved = [n for n, m in zip(kept_before, kept_after, strict=True) if n != m]
        out.append(
            Change(
                dataset,
                moved[0],
                "reorder",
                Level.UNSAFE,
                f"columns reordered ({', '.join(moved)}): old files would be read in the new order",
            )
        )
    tail_start = len(before)
    for name in added:
        if name in renamed.values():
            continue
        column = new.column(name)
        if after.index(name) < tail_start or after[:tail_start] != before:
            out.append(
                Change(
                    dataset,
                    name,
                    "insert",
                    Level.UNSAFE,
                    "added before existing columns: new columns go after the existing ones",
                )
            )
        elif column.nullable and not column.required:
            out.append(Change(dataset, name, "append", Level.SAFE, "nullable column appended: old rows read NULL"))
        elif column.nullable:
            out.append(
                Change(
                    dataset,
                    name,
                    "append",
                    Level.STRICTER,
                    "appended and required in the header: old rows read NULL, files without it now fail",
                )
            )
        else:
            out.append(
                Change(
                    dataset,
                    name,
                    "append",
                    Level.STRICTER,
                    "appended non-null: old rows read NULL where the contract says never null",
                )
            )
    return out


def compare(old: Contract, new: Contract) -> DatasetDiff:
    """Every change from ``old`` (deployed) to ``new``."""
    dataset = new.dataset
    changes = _layout_changes(dataset, old, new)
    for name in new.column_names:
        if name in old.column_names:
            changes += _column_changes(dataset, old.column(name), new.column(name), old.output_format)
    if old.primary_key != new.primary_key:
        changes.append(
            Change(
                dataset,
                None,
                "change primary key",
                Level.UNSAFE,
                f"primary key ({', '.join(old.primary_key)}) -> ({', '.join(new.primary_key)}): stored items and "
                "the last-row-wins rule are keyed by the old one",
            )
        )
    if old.partition != new.partition:

        def label(p: Any) -> str:
            return f"{p.column} by {p.granularity} as {p.name}=" if p else "none"

        changes.append(
            Change(
                dataset,
                None,
                "change partition",
                Level.UNSAFE,
                f"partition {label(old.partition)} -> {label(new.partition)}: stored files sit under the old "
                "partition folders",
            )
        )
    if old.output_format != new.output_format:
        changes.append(
            Change(
                dataset,
                None,
                "change format",
                Level.UNSAFE,
                f"x-format {old.output_format} -> {new.output_format}: the table would read the stored "
                f"{old.output_format} files with the {new.output_format} SerDe",
            )
        )
    if old.null_values != new.null_values:
        changes.append(
            Change(
                dataset,
                None,
                "null spellings",
                Level.STRICTER,
                f"x-null-values {list(old.null_values)} -> {list(new.null_values)}: values read differently from "
                "now on",
            )
        )
    if old.extra_columns_allowed != new.extra_columns_allowed:
        level = Level.SAFE if new.extra_columns_allowed else Level.STRICTER
        changes.append(
            Change(
                dataset,
                None,
                "additionalProperties",
                level,
                f"extra columns {'ignored' if new.extra_columns_allowed else 'fail the file'}",
            )
        )
    if old.store_in_dynamodb != new.store_in_dynamodb:
        detail = (
            "rows stored in DynamoDB from now on"
            if new.store_in_dynamodb
            else ("no longer stored in DynamoDB; items already there stay")
        )
        changes.append(Change(dataset, None, "x-dynamodb", Level.SAFE, detail))
    status = "changed" if changes or old.raw != new.raw else "unchanged"
    if not changes and old.raw != new.raw:
        changes.append(Change(dataset, None, "annotations", Level.SAFE, "descriptions or titles changed"))
    return DatasetDiff(dataset, status, tuple(changes))


def compare_all(deployed: dict[str, Contract], local: dict[str, Contract]) -> list[DatasetDiff]:
    """A diff per dataset of either side, in name order."""
    out = []
    for name in sorted(set(deployed) | set(local)):
        if name not in deployed:
            out.append(DatasetDiff(name, "new", (Change(name, None, "add dataset", Level.SAFE, "new dataset"),)))
        elif name not in local:
            out.append(
                DatasetDiff(
                    name,
                    "removed",
                    (
                        Change(
                            name,
                            None,
                            "remove dataset",
                            Level.UNSAFE,
                            "schema file removed: the deploy would drop its Glue table (its files stay in S3)",
                        ),
                    ),
                )
            )
        else:
            out.append(compare(deployed[name], local[name]))
    return out
