"""Stack parameters of a deploy: a plain deploy keeps what the stage was deployed with, `-p` changes one.

CloudFormation falls back to a parameter's template default when an update does not name it, which silently
undid earlier `-p` values (issue 12, finding 9). Every parameter the running stack has and the deploy does not
set is therefore sent as `UsePreviousValue`, and every value the deploy changes is reported as old -> new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.runtime.errors import PipelineError
from pipeline.tools.pairs import name_value_pairs

# Set by `pipeline deploy` itself on every run; not the user's settings, so not reported as changes.
MANAGED = ("Stage", "ArtifactBucket", "CodeKey", "BatchDefinitionKey", "DepsLayerKey")


class ParameterError(PipelineError):
    """A `-p` override that the template does not take, or that is not KEY=VALUE."""


@dataclass(frozen=True)
class Change:
    """A parameter whose value this deploy changes (``old`` is None when the stack did not have it yet)."""

    name: str
    old: str | None
    new: str

    def __str__(self) -> str:
        before = "(new parameter)" if self.old is None else repr(self.old)
        return f"{self.name}: {before} -> {self.new!r}"


@dataclass(frozen=True)
class Plan:
    """What the change set sends, the values the stack will run with, and what changes."""

    cfn: list[dict[str, Any]]
    effective: dict[str, str]
    changes: list[Change]
    kept: list[str]


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """`-p KEY=VALUE` pairs as a dict; a pair without `=` or without a key is a readable error."""
    return name_value_pairs(
        pairs, lambda pair: ParameterError(f"-p {pair!r}: expected KEY=VALUE (for example -p PageRows=10000)")
    )


def defaults(template: Mapping[str, Any]) -> dict[str, str]:
    """Each template parameter's default as CloudFormation passes it (a string), for those that have one."""
    return {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}


def plan(
    template: Mapping[str, Any],
    given: Mapping[str, str],
    previous: Mapping[str, str] | None,
) -> Plan:
    """The parameters of a change set: ``given`` values, else the ``previous`` stack's value, else the default.

    ``previous`` is None for a new stack. A ``given`` name the template does not declare is an error here rather
    than a failed change set.
    """
    declared = template.get("Parameters", {})
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(f"the template has no parameter {', '.join(unknown)}; it takes {', '.join(declared)}")
    base = defaults(template)
    cfn: list[dict[str, Any]] = []
    effective: dict[str, str] = {}
    changes: list[Change] = []
    kept: list[str] = []
    for name in declared:
        if name in given:
            value = str(given[name])
            cfn.append({"ParameterKey": name, "ParameterValue": value})
            effective[name] = value
            if previous is not None and name not in MANAGED and previous.get(name) != value:
                changes.append(Change(name, previous.get(name), value))
        elif previous is not None and name in previous:
            cfn.append({"ParameterKey": name, "UsePreviousValue": True})
            effective[name] = previous[name]
            if name not in MANAGED and previous[name] != base.get(name):
                kept.append(name)
        elif name in base:
            effective[name] = base[name]
    return Plan(cfn, effective, changes, kept)
