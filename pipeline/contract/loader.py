"""Load dataset contracts from `schemas/<dataset>.schema.json` files."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.contract.exceptions import ContractError, UnknownDatasetError
from pipeline.contract.model import Column, Contract, Partition

SCHEMA_SUFFIX = ".schema.json"
DATASET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_SIMPLE_TYPES = {"string", "integer", "number", "boolean"}


def schemas_dir() -> Path:
    """The folder holding schema files: `PIPELINE_SCHEMAS_DIR`, the bundled copy, or the repo's `schemas/`."""
    configured = os.environ.get("PIPELINE_SCHEMAS_DIR")
    if configured:
        return Path(configured)
    bundled = Path(__file__).resolve().parent.parent / "_schemas"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "schemas"


def _column(name: str, spec: dict[str, Any], required: bool) -> Column:
    types = spec.get("type")
    if types is None:
        raise ContractError(f"column {name!r}: 'type' is missing")
    type_list = [types] if isinstance(types, str) else list(types)
    nullable = "null" in type_list
    base = [t for t in type_list if t != "null"]
    if len(base) != 1 or base[0] not in _SIMPLE_TYPES:
        raise ContractError(
            f"column {name!r}: type must be one of {sorted(_SIMPLE_TYPES)}, optionally with 'null'; got {types!r}"
        )
    kind = base[0]
    fmt = spec.get("format")
    if fmt is not None:
        if kind != "string" or fmt not in ("date", "date-time"):
            raise ContractError(f"column {name!r}: only string columns take format 'date' or 'date-time'")
        kind = "date" if fmt == "date" else "timestamp"
    enum = spec.get("enum")
    pattern = spec.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ContractError(f"column {name!r}: pattern {pattern!r} is not a valid regex: {exc}") from exc
    return Column(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        nullable=nullable,
        required=required,
        enum=tuple(v for v in enum if v is not None) if enum is not None else None,
        minimum=spec.get("minimum"),
        maximum=spec.get("maximum"),
        exclusive_minimum=spec.get("exclusiveMinimum"),
        exclusive_maximum=spec.get("exclusiveMaximum"),
        pattern=pattern,
        min_length=spec.get("minLength"),
        max_length=spec.get("maxLength"),
    )


def parse_contract(dataset: str, document: dict[str, Any]) -> Contract:
    """Turn one JSON Schema document into a `Contract`, or raise `ContractError` saying what is wrong."""
    if not DATASET_NAME.match(dataset):
        raise ContractError(f"dataset name {dataset!r} must match {DATASET_NAME.pattern}")
    if document.get("type") != "object":
        raise ContractError(f"{dataset}: the schema must describe one record ('type': 'object')")
    properties = document.get("properties")
    if not isinstance(properties, dict) or not properties:
        raise ContractError(f"{dataset}: 'properties' must list at least one column")
    required = set(document.get("required", []))
    unknown_required = required - set(properties)
    if unknown_required:
        raise ContractError(f"{dataset}: 'required' names unknown columns {sorted(unknown_required)}")
    columns = tuple(_column(name, spec, name in required) for name, spec in properties.items())
    names = {c.name for c in columns}

    primary_key = tuple(document.get("x-primary-key", []))
    if not primary_key:
        raise ContractError(f"{dataset}: 'x-primary-key' must list at least one column")
    missing = [c for c in primary_key if c not in names]
    if missing:
        raise ContractError(f"{dataset}: 'x-primary-key' names unknown columns {missing}")
    for name in primary_key:
        if name not in required:
            raise ContractError(f"{dataset}: primary-key column {name!r} must be in 'required'")

    partition = None
    spec = document.get("x-partition")
    if spec is not None:
        column = spec.get("column")
        granularity = spec.get("granularity", "day")
        if column not in names:
            raise ContractError(f"{dataset}: 'x-partition.column' {column!r} is not a column")
        kinds = {c.name: c.kind for c in columns}
        if kinds[column] not in ("date", "timestamp"):
            raise ContractError(f"{dataset}: partition column {column!r} must have format date or date-time")
        if column not in required:
            raise ContractError(f"{dataset}: partition column {column!r} must be in 'required'")
        if granularity not in ("day", "month"):
            raise ContractError(f"{dataset}: 'x-partition.granularity' must be 'day' or 'month'")
        name = spec.get("name", "dt")
        if name in names:
            raise ContractError(f"{dataset}: partition name {name!r} clashes with a column")
        partition = Partition(column=column, granularity=granularity, name=name)

    null_values = tuple(document.get("x-null-values", ["", "NA", "NULL"]))
    extra_columns = document.get("additionalProperties", False)
    if not isinstance(extra_columns, bool):
        raise ContractError(
            f"{dataset}: 'additionalProperties' must be false (extra columns fail the file, the default) "
            "or true (extra columns are ignored)"
        )
    return Contract(
        dataset=dataset,
        columns=columns,
        primary_key=primary_key,
        partition=partition,
        null_values=null_values,
        store_in_dynamodb=bool(document.get("x-dynamodb", True)),
        extra_columns_allowed=extra_columns,
        description=document.get("description", ""),
        raw=document,
    )


def load_contract_file(path: Path) -> Contract:
    """Load one schema file."""
    if not path.name.endswith(SCHEMA_SUFFIX):
        raise ContractError(f"{path.name}: schema files are named <dataset>{SCHEMA_SUFFIX}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ContractError(f"{path.name}: not valid JSON: {exc}") from exc
    return parse_contract(path.name[: -len(SCHEMA_SUFFIX)], document)


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """Every contract in the schemas folder, by dataset name."""
    folder = directory or schemas_dir()
    return {c.dataset: c for c in (load_contract_file(p) for p in sorted(folder.glob(f"*{SCHEMA_SUFFIX}")))}


@cache
def load_contract(dataset: str) -> Contract:
    """The contract of one dataset (cached for the life of the process)."""
    path = schemas_dir() / f"{dataset}{SCHEMA_SUFFIX}"
    if not DATASET_NAME.match(dataset) or not path.is_file():
        known = sorted(p.name[: -len(SCHEMA_SUFFIX)] for p in schemas_dir().glob(f"*{SCHEMA_SUFFIX}"))
        raise UnknownDatasetError(f"no schema for dataset {dataset!r}; known datasets: {', '.join(known) or 'none'}")
    return load_contract_file(path)


def dataset_for_key(key: str) -> str:
    """The dataset an ingest object belongs to: the first segment of its key (`<dataset>/...`)."""
    head, sep, _ = key.partition("/")
    if not sep or not head:
        raise UnknownDatasetError(f"object key {key!r} has no '<dataset>/' prefix")
    return head
