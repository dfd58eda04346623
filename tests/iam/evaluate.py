"""Check recorded calls against each function's role with an IAM policy evaluator.

The evaluator is MiniStack's IAM engine (`ministack.core.iam_evaluator`, the code behind its `AUTH=true` mode and
its `SimulateCustomPolicy`): explicit Deny wins, then an Allow whose Action/NotAction, Resource/NotResource
(IAM wildcards, case rules as on AWS) and Condition all match, else implicit deny. It is already a pinned
dependency, so the offline proof and a local cloud enforcing IAM judge a request the same way.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ministack.core.iam_evaluator import EvalContext, evaluate, parse_policy_document

from tests.iam.actions import Request, UnmappedCall, requests_for
from tests.iam.calls import Call
from tests.iam.template import FunctionRole

# Used with the function's role by the Lambda service (logs, traces, an SQS event source mapping polling its queue)
# or by KMS for encrypted topics and queues, never through the function's own clients: not in the call log.
SERVICE_SIDE_PREFIXES = ("logs:", "xray:", "kms:", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


@dataclass(frozen=True)
class Decision:
    """The verdict on one (function, action, resource), with how many recorded calls asked for it."""

    function: str
    action: str
    resource: str
    allowed: bool
    reason: str
    calls: int

    def __str__(self) -> str:
        verdict = "allowed" if self.allowed else "DENIED"
        return f"{self.function}: {self.action} on {self.resource} {verdict} ({self.reason}; {self.calls} calls)"


@dataclass
class Report:
    """Every decision, plus calls that could not be judged (unmapped, unknown function, made outside Lambda)."""

    decisions: list[Decision] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    unknown_functions: Counter[str] = field(default_factory=Counter)
    outside_lambda: int = 0

    @property
    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    def actions_by_function(self) -> dict[str, Counter[str]]:
        """Calls per IAM action, per function."""
        counts: dict[str, Counter[str]] = {}
        for d in self.decisions:
            counts.setdefault(d.function, Counter())[d.action] += d.calls
        return counts

    def problems(self) -> list[str]:
        """One line per denied request, unmapped call and call from a function the stacks do not define."""
        lines = [str(d) for d in self.denied]
        lines += [f"unmapped call: {u}" for u in self.unmapped]
        lines += [
            f"{name}: {n} calls from a function no checked stack defines" for name, n in self.unknown_functions.items()
        ]
        return lines


def decide(role: FunctionRole, request: Request) -> tuple[bool, str]:
    """Whether ``role`` allows ``request``, and why (the matching statement's Sid, or why not)."""
    where = role.where
    context = EvalContext(
        principal_arn=f"arn:{where.partition}:sts::{where.account}:assumed-role/{role.role_arn.rsplit('/', 1)[-1]}/"
        f"{role.function}",
        principal_type="AssumedRole",
        principal_account=where.account,
        action=request.action,
        resource_arn=request.resource,
        region=where.region,
        source_ip="10.0.0.1",
        secure_transport=True,
    )
    own = [parse_policy_document(doc) for doc in role.documents]
    limits = [[parse_policy_document(doc) for doc in role.boundary]] if role.boundary else []
    result = evaluate(context, own, *limits)
    if result.decision == "Allow":
        return True, f"statement {result.matched_sid or '(no Sid)'} of {role.logical_role}"
    if result.decision == "Deny":
        where = (
            f"the permissions boundary of {role.logical_role}"
            if limits and evaluate(context, own).decision != "Deny"
            else role.logical_role
        )
        return False, f"explicit deny by {result.matched_sid or '(no Sid)'} of {where}"
    if limits and evaluate(context, own).decision == "Allow":
        return False, f"{role.logical_role} allows it, its permissions boundary {role.boundary_arn} does not"
    return False, f"no statement of {role.logical_role} allows it"


def check(calls: Iterable[Call], roles: dict[str, FunctionRole]) -> Report:
    """Judge every call a known function made; each distinct (function, action, resource) is evaluated once."""
    report = Report()
    wanted: Counter[tuple[str, Request]] = Counter()
    unmapped: set[str] = set()
    for call in calls:
        if call.function is None:
            report.outside_lambda += 1
            continue
        role = roles.get(call.function)
        if role is None:
            report.unknown_functions[call.function] += 1
            continue
        try:
            for request in requests_for(call, role.where):
                wanted[(call.function, request)] += 1
        except UnmappedCall as exc:
            unmapped.add(str(exc))
    report.unmapped = sorted(unmapped)
    for (function, request), count in sorted(wanted.items()):
        allowed, reason = decide(roles[function], request)
        report.decisions.append(Decision(function, request.action, request.resource, allowed, reason, count))
    return report


def granted_actions(role: FunctionRole) -> set[str]:
    """The actions the role's Allow statements name (as written, wildcards included)."""
    names: set[str] = set()
    for document in role.documents:
        for statement in parse_policy_document(document):
            if statement.effect == "Allow":
                names.update(statement.actions)
    return names


def unused_grants(report: Report, roles: dict[str, FunctionRole]) -> dict[str, list[str]]:
    """Per function that made calls: granted actions no recorded call used (service-side actions excepted)."""
    used = report.actions_by_function()
    unused: dict[str, list[str]] = {}
    for function, actions in used.items():
        spare = sorted(
            a for a in granted_actions(roles[function]) - set(actions) if not a.startswith(SERVICE_SIDE_PREFIXES)
        )
        if spare:
            unused[function] = spare
    return unused


def summary(report: Report) -> str:
    """A readable table: calls per action per function."""
    lines = []
    for function, actions in sorted(report.actions_by_function().items()):
        lines.append(function)
        lines += [f"    {action:<34} {n:>7}" for action, n in sorted(actions.items())]
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    """The report as plain data (for a CI artefact or a test failure message)."""
    return {
        "calls_by_function": {f: dict(c) for f, c in report.actions_by_function().items()},
        "denied": [d.__dict__ for d in report.denied],
        "unmapped": report.unmapped,
        "unknown_functions": dict(report.unknown_functions),
        "outside_lambda": report.outside_lambda,
    }
