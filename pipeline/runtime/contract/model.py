"""Typed model of a dataset contract, derived from its JSON Schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "integer", "number", "boolean", "date", "timestamp"]
Granularity = Literal["day", "month"]
OutputFormat = Literal["text", "parquet"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("text", "parquet")

GLUE_TYPES: dict[str, str] = {
    "string": "string",
    "integer": "bigint",
    "number": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


@dataclass(frozen=True)
class Column:
    """One column of a dataset: its type and the rules each value must follow."""

    name: str
    kind: Kind
    nullable: bool = False
    required: bool = False
    enum: tuple[str | int | float | bool, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None

    @property
    def glue_type(self) -> str:
        """The Athena/Glue type this column is stored as."""
        return GLUE_TYPES[self.kind]


@dataclass(frozen=True)
class Partition:
    """How rows are partitioned in S3: a date or timestamp column cut by day or month."""

    column: str
    granularity: Granularity = "day"
    name: str = "dt"


@dataclass(frozen=True)
class Contract:
    """A dataset contract: columns in file order, primary key, partition and null spellings."""

    dataset: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    partition: Partition | None
    null_values: tuple[str, ...] = ("", "NA", "NULL")
    store_in_dynamodb: bool = True
    extra_columns_allowed: bool = False  # `additionalProperties: true`: columns beyond the schema are read and dropped
    output_format: OutputFormat = "text"  # `x-format`: the Athena table's files, delimited text (ADR 4) or Parquet
    description: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def column_names(self) -> list[str]:
        """Column names in the order of the schema."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def fingerprint(self) -> str:
        """A short hash of the schema document (canonical JSON): the same contract text, the same fingerprint."""
        import hashlib
        import json

        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    @property
    def table_name(self) -> str:
        """The Glue/Athena table name for this dataset."""
        return self.dataset.replace("-", "_").lower()
