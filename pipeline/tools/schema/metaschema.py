"""Load contracts the way operators and the packager do: keywords, the JSON Schema 2020-12 metaschema, our rules.

The metaschema is judged by `jsonschema` against the official 2020-12 metaschema. This runs at `pipeline schema
check`, `diff`, `package` and `deploy` time only: importing `jsonschema` costs about 0.2 s (measured with
`-X importtime`), most of a light handler's 300 ms cold-start budget, so the Lambdas check only the keywords
(`pipeline.runtime.contract.strict`) and trust the contracts bundled into their code zip, which `package.build` checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.runtime.contract import Contract, ContractError
from pipeline.runtime.contract.loader import SCHEMA_SUFFIX, contract_path, dataset_of, parse_contract, read_document
from pipeline.runtime.contract.strict import Problem, check_keywords


def metaschema_problems(document: Any) -> list[Problem]:
    """Where ``document`` breaks the JSON Schema 2020-12 metaschema."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        keyword = str(error.absolute_path[-1]) if error.absolute_path else ""
        found.append(Problem(path, keyword, f"not valid JSON Schema 2020-12: {error.message}"))
    return found


def check_document(dataset: str, document: dict[str, Any]) -> Contract:
    """The contract of ``document``, checked in full: keywords (their did-you-mean reads best), metaschema, rules."""
    check_keywords(dataset, document)
    problems = metaschema_problems(document)
    if problems:
        raise ContractError(f"{dataset}: " + "; ".join(str(p) for p in problems))
    return parse_contract(dataset, document)


def load_checked_contract(path: Path) -> Contract:
    """One schema file, checked in full."""
    return check_document(dataset_of(path), read_document(path))


def load_checked_contracts(directory: Path) -> dict[str, Contract]:
    """Every schema file of ``directory``, each checked in full, by dataset name."""
    return {c.dataset: c for c in map(load_checked_contract, sorted(directory.glob(f"*{SCHEMA_SUFFIX}")))}


def load_checked_dataset(dataset: str, directory: Path) -> Contract:
    """The checked contract of ``dataset`` in ``directory``, or `UnknownDatasetError` naming the known ones."""
    return load_checked_contract(contract_path(dataset, directory))
