"""Load dataset contracts from `schemas/<dataset>.schema.json` files."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.runtime.contract.exceptions import ContractError, UnknownDatasetError
from pipeline.runtime.contract.model import OUTPUT_FORMATS, Column, Contract, Partition
from pipeline.runtime.contract.strict import check_keywords

SCHEMA_SUFFIX = ".schema.json"
SCHEMAS_ENV = "PIPELINE_SCHEMAS_DIR"
DATASET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SIMPLE_TYPES = {"string", "integer", "number", "boolean"}
_ENUM_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "number": (int, float),
                                            "boolean": (bool,)}  # fmt: skip
_STRING_RULES = ("pattern", "minLength", "maxLength")
_NUMBER_RULES = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def bundled_schemas_dir() -> Path:
    """Where the Lambda code zip carries the contracts it was packaged with (absent in a source tree)."""
    return Path(__file__).resolve().parent.parent / "_schemas"


def shipped_schemas_dir() -> Path:
    """The schemas that ship with the code: the repository's `schemas/` in a checkout, else the wheel's copy
    (`pipeline/_shipped/schemas`, written by setup.py)."""
    here = Path(__file__).resolve()
    in_tree = here.parents[3] / "schemas"
    return in_tree if in_tree.is_dir() else here.parents[2] / "_shipped" / "schemas"


def source_schemas_dir() -> Path:
    """The schemas a build or an operator command reads: `PIPELINE_SCHEMAS_DIR`, else the current directory's
    `schemas/`, else the shipped ones (`shipped_schemas_dir`). One folder, never a merge of two."""
    configured = os.environ.get(SCHEMAS_ENV)
    if configured:
        return Path(configured)
    local = Path.cwd() / "schemas"
    return local if local.is_dir() else shipped_schemas_dir()


def schemas_dir() -> Path:
    """The folder holding schema files: the copy bundled into the code zip, else `source_schemas_dir()`.

    The bundled copy wins so that a Lambda worker always runs the contracts it was packaged (and checked) with,
    even where the variable leaks into its environment (the local cloud's workers inherit the server's).
    """
    bundled = bundled_schemas_dir()
    return bundled if bundled.is_dir() else source_schemas_dir()


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
    _check_rules_fit(name, kind, spec)
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


def _check_rules_fit(name: str, kind: str, spec: dict[str, Any]) -> None:
    """Refuse a rule the validator would never apply to a column of this kind (it would be silently ignored)."""
    misplaced = [k for k in _STRING_RULES if k in spec and kind != "string"]
    misplaced += [k for k in _NUMBER_RULES if k in spec and kind not in ("integer", "number")]
    if misplaced:
        where = "string columns without a format" if misplaced[0] in _STRING_RULES else "integer and number columns"
        raise ContractError(f"column {name!r}: {', '.join(misplaced)} applies to {where} only, not to {kind} columns")
    enum = spec.get("enum")
    if enum is None:
        return
    if kind not in _ENUM_TYPES:
        raise ContractError(f"column {name!r}: 'enum' applies to string, integer, number and boolean columns only")
    wanted = _ENUM_TYPES[kind]
    wrong = [
        v for v in enum if v is not None and (not isinstance(v, wanted) or isinstance(v, bool) != (kind == "boolean"))
    ]
    if wrong or not enum:
        raise ContractError(f"column {name!r}: 'enum' must list {kind} values; {wrong[:3] or 'it is empty'} do not fit")


def parse_contract(dataset: str, document: dict[str, Any]) -> Contract:
    """Turn one JSON Schema document into a `Contract`, or raise `ContractError` saying what is wrong.

    Every keyword must be one the pipeline implements (`strict.check_keywords`); the JSON Schema metaschema is
    checked by `load_contract_file` for files that are not the Lambda's bundled, already-checked copy.
    """
    if not DATASET_NAME.match(dataset):
        raise ContractError(f"dataset name {dataset!r} must match {DATASET_NAME.pattern}")
    check_keywords(dataset, document)
    dialect = document.get("$schema")
    if dialect is not None and dialect.rstrip("#") != DIALECT:
        raise ContractError(f"{dataset}: '$schema' must be {DIALECT!r} (JSON Schema 2020-12), got {dialect!r}")
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
    if len(set(primary_key)) != len(primary_key):
        raise ContractError(f"{dataset}: 'x-primary-key' names a column twice: {list(primary_key)}")
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
    output_format = document.get("x-format", "text")
    if output_format not in OUTPUT_FORMATS:
        raise ContractError(
            f"{dataset}: 'x-format' must be 'text' (delimited text, the default) or 'parquet', got {output_format!r}"
        )
    return Contract(
        dataset=dataset,
        columns=columns,
        primary_key=primary_key,
        partition=partition,
        null_values=null_values,
        store_in_dynamodb=bool(document.get("x-dynamodb", True)),
        extra_columns_allowed=extra_columns,
        output_format=output_format,
        description=document.get("description", ""),
        raw=document,
    )


def read_document(path: Path) -> dict[str, Any]:
    """The JSON object of a schema file, or `ContractError` saying why it is not one."""
    if not path.name.endswith(SCHEMA_SUFFIX):
        raise ContractError(f"{path.name}: schema files are named <dataset>{SCHEMA_SUFFIX}")
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise ContractError(f"{path.name}: cannot be read: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractError(f"{path.name}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ContractError(f"{path.name}: a contract is a JSON object")
    return document


def dataset_of(path: Path) -> str:
    """The dataset a schema file describes: its name without `.schema.json`."""
    return path.name[: -len(SCHEMA_SUFFIX)]


def load_contract_file(path: Path) -> Contract:
    """Load one schema file (keywords and pipeline rules; the metaschema is the operator side's job)."""
    return parse_contract(dataset_of(path), read_document(path))


def load_contracts(directory: Path | None = None) -> dict[str, Contract]:
    """Every contract in the schemas folder, by dataset name."""
    folder = directory or schemas_dir()
    return {c.dataset: c for c in (load_contract_file(p) for p in sorted(folder.glob(f"*{SCHEMA_SUFFIX}")))}


def known_datasets(directory: Path | None = None) -> list[str]:
    """The dataset names that have a schema file in ``directory`` (default `schemas_dir()`)."""
    folder = directory or schemas_dir()
    return sorted(p.name[: -len(SCHEMA_SUFFIX)] for p in folder.glob(f"*{SCHEMA_SUFFIX}"))


def contract_path(dataset: str, directory: Path | None = None) -> Path:
    """The schema file of ``dataset``, or `UnknownDatasetError` listing the datasets there are."""
    folder = directory or schemas_dir()
    path = folder / f"{dataset}{SCHEMA_SUFFIX}"
    if not DATASET_NAME.match(dataset) or not path.is_file():
        known = known_datasets(folder)
        raise UnknownDatasetError(f"no schema for dataset {dataset!r}; known datasets: {', '.join(known) or 'none'}")
    return path


@cache
def load_contract(dataset: str) -> Contract:
    """The contract of one dataset (cached for the life of the process).

    In a Lambda this is the bundled copy, whose metaschema check the packager already did (ADR 7)."""
    return load_contract_file(contract_path(dataset))


def dataset_for_key(key: str) -> str:
    """The dataset an ingest object belongs to: the first segment of its key (`<dataset>/...`)."""
    head, sep, _ = key.partition("/")
    if not sep or not head:
        raise UnknownDatasetError(f"object key {key!r} has no '<dataset>/' prefix")
    return head
