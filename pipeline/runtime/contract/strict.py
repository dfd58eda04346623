"""Strict contracts: every keyword of a schema file is one the pipeline implements, or the file is refused.

`check_keywords` (pure Python, microseconds, run wherever a contract is loaded, the Lambdas included): every
key of the document, of each column and of `x-partition` is on the list of keywords the pipeline implements,
with the JSON type it needs. Anything else is an error naming the keyword, its JSON path and the nearest
supported keyword; keywords of JSON Schema that the pipeline does not implement (`const`, `oneOf`,
`multipleOf`, ...) are refused, not ignored, so no one believes a rule is enforced that is not.

The JSON Schema 2020-12 metaschema is checked on the operator side (`pipeline.tools.schema.metaschema`, with
`jsonschema`) by `pipeline schema check`, `package` and `deploy`; see there why the Lambdas do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeline.runtime.contract.exceptions import ContractError

# keyword -> the JSON types its value may have ("annotation" keywords carry no rule and are kept as documentation)
DOCUMENT_KEYWORDS: dict[str, tuple[type, ...]] = {
    "$schema": (str,),
    "$id": (str,),
    "$comment": (str,),
    "title": (str,),
    "description": (str,),
    "examples": (list,),
    "type": (str,),
    "properties": (dict,),
    "required": (list,),
    "additionalProperties": (bool, dict),  # an object (a sub-schema) is refused by the loader, saying why
    "x-primary-key": (list,),
    "x-partition": (dict,),
    "x-null-values": (list,),
    "x-dynamodb": (bool,),
    "x-format": (str,),
}
COLUMN_KEYWORDS: dict[str, tuple[type, ...]] = {
    "type": (str, list),
    "format": (str,),
    "enum": (list,),
    "minimum": (int, float),
    "maximum": (int, float),
    "exclusiveMinimum": (int, float),
    "exclusiveMaximum": (int, float),
    "pattern": (str,),
    "minLength": (int,),
    "maxLength": (int,),
    "$comment": (str,),
    "title": (str,),
    "description": (str,),
    "examples": (list,),
}
PARTITION_KEYWORDS: dict[str, tuple[type, ...]] = {"column": (str,), "granularity": (str,), "name": (str,)}

# JSON Schema 2020-12 keywords the pipeline does not implement, with the supported way to say the same, if any.
UNSUPPORTED_JSON_SCHEMA: dict[str, str | None] = {
    "const": "enum",
    "oneOf": "type",
    "anyOf": "type",
    "allOf": None,
    "not": None,
    "if": None,
    "then": None,
    "else": None,
    "multipleOf": "pattern",
    "default": "x-null-values",
    "patternProperties": None,
    "propertyNames": None,
    "unevaluatedProperties": "additionalProperties",
    "dependentRequired": None,
    "dependentSchemas": None,
    "minProperties": None,
    "maxProperties": None,
    "items": None,
    "prefixItems": None,
    "contains": None,
    "minItems": None,
    "maxItems": None,
    "uniqueItems": "x-primary-key",
    "minContains": None,
    "maxContains": None,
    "unevaluatedItems": None,
    "contentEncoding": None,
    "contentMediaType": None,
    "contentSchema": None,
    "$ref": None,
    "$defs": None,
    "definitions": None,
    "$anchor": None,
    "$dynamicRef": None,
    "$dynamicAnchor": None,
    "$vocabulary": None,
    "deprecated": "description",
    "readOnly": "description",
    "writeOnly": "description",
}
# Athena and Glue column names: lowercase letters, digits and underscores, at most 255 characters.
COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,254}$")


@dataclass(frozen=True)
class Problem:
    """One keyword the pipeline does not accept, where it is, and what to write instead."""

    path: str
    keyword: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """The supported keyword closest to ``word`` (difflib's ratio, case-insensitive), if any is close."""
    import difflib

    options = list(choices)
    lowered = {c.lower(): c for c in options}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def column_name_proposal(name: str) -> str:
    """A valid Athena/Glue column name for a header name: lowercase, runs of other characters as one `_`."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())  # camelCase -> camel_case
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not text:
        text = "column"
    if text[0].isdigit():
        text = f"c_{text}"
    return text[:255]


def _unknown(path: str, keyword: str, supported: dict[str, Any]) -> Problem:
    if keyword in UNSUPPORTED_JSON_SCHEMA:
        instead = UNSUPPORTED_JSON_SCHEMA[keyword]
        hint = f"; the nearest supported keyword is {instead}" if instead and instead in supported else ""
        message = f"keyword {keyword!r} is JSON Schema but the pipeline does not implement it, so it is refused{hint}"
        return Problem(path, keyword, message)
    close = nearest(keyword, supported)
    hint = f"; did you mean {close}?" if close else f"; supported here: {', '.join(sorted(supported))}"
    return Problem(path, keyword, f"unknown keyword {keyword!r}{hint}")


def _check_object(path: str, node: dict[str, Any], supported: dict[str, tuple[type, ...]]) -> list[Problem]:
    problems = []
    for keyword, value in node.items():
        here = f"{path}.{keyword}" if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", keyword) else f"{path}[{keyword!r}]"
        if keyword not in supported:
            problems.append(_unknown(here, keyword, supported))
            continue
        wanted = supported[keyword]
        if (isinstance(value, bool) and bool not in wanted) or not isinstance(value, wanted):
            names = " or ".join(_JSON_NAMES[t] for t in wanted)
            problems.append(Problem(here, keyword, f"{keyword!r} must be {names}, got {_json_name(value)}"))
    return problems


_JSON_NAMES = {str: "a string", list: "an array", dict: "an object", bool: "true or false", int: "an integer",
               float: "a number"}  # fmt: skip


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def keyword_problems(document: Any) -> list[Problem]:
    """Every keyword of ``document`` the pipeline does not implement, or whose value has the wrong JSON type."""
    if not isinstance(document, dict):
        return [Problem("$", "", f"a contract is a JSON object, got {_json_name(document)}")]
    problems = _check_object("$", document, DOCUMENT_KEYWORDS)
    properties = document.get("properties")
    if isinstance(properties, dict):
        for name, spec in properties.items():
            plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name)
            path = f"$.properties.{name}" if plain else f"$.properties[{name!r}]"
            if not COLUMN_NAME.match(name):
                problems.append(
                    Problem(
                        path,
                        name,
                        f"column {name!r} is not a valid Athena/Glue column name (lowercase letters, digits and _, "
                        f"at most 255, not starting with a digit); did you mean {column_name_proposal(name)}?",
                    )
                )
            if not isinstance(spec, dict):
                problems.append(Problem(path, name, f"a column is a JSON object, got {_json_name(spec)}"))
                continue
            problems.extend(_check_object(path, spec, COLUMN_KEYWORDS))
    partition = document.get("x-partition")
    if isinstance(partition, dict):
        problems.extend(_check_object("$.x-partition", partition, PARTITION_KEYWORDS))
    for keyword in ("required", "x-primary-key", "x-null-values"):
        values = document.get(keyword)
        if isinstance(values, list) and not all(isinstance(v, str) for v in values):
            problems.append(Problem(f"$.{keyword}", keyword, f"{keyword!r} must list strings"))
    return problems


def check_keywords(dataset: str, document: Any) -> None:
    """Raise `ContractError` listing every keyword of ``document`` the pipeline does not implement."""
    problems = keyword_problems(document)
    if problems:
        raise ContractError(f"{dataset}: " + "; ".join(str(p) for p in problems))
