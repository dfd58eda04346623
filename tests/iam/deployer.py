"""The deployer's and operator's policies and the permissions boundary, judged by two IAM evaluators.

`judge` evaluates each request with MiniStack's engine (`ministack.core.iam_evaluator`) and with `iam-simulate`
(`tests/iam/simulator.py`); a request's context holds the condition keys AWS puts in it (the boundary a role
has or is created with, the service a role is passed to, the key's tags, `aws:CalledVia` for calls that
CloudFormation makes with the deployer's credentials).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ministack.core.iam_evaluator import EvalContext, evaluate, parse_policy_document

from pipeline.tools.deploy import package
from pipeline.tools.deploy.cfn_yaml import load_template
from tests.iam import simulator
from tests.iam.cloudformation import ACCOUNT, REGION

DOCS = Path(__file__).resolve().parents[2] / "docs"
DEPLOYER_FILES = ("deployer-policy.json", "deployer-policy-resources.json", "operator-policy.json")
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/deployer"
FUNCTION_ROLE = f"arn:aws:sts::{ACCOUNT}:assumed-role/pipeline-dev-UploadRole-0A1B2C3D4E5F/pipeline-dev-upload"
# ministack's decisions in iam-simulate's words
_WORDS = {"Allow": "Allowed", "Deny": "ExplicitlyDenied", "ImplicitDeny": "ImplicitlyDenied"}


def policy(name: str) -> dict[str, Any]:
    return dict(json.loads((DOCS / name).read_text(encoding="utf-8")))


def deployer_policies() -> list[dict[str, Any]]:
    return [policy(name) for name in DEPLOYER_FILES]


def boundary() -> dict[str, Any]:
    return policy("permissions-boundary.json")


def _resolve(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return {"AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}[node["Ref"]]
        if set(node) == {"Fn::Sub"}:
            return node["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
        return {k: _resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v) for v in node]
    return node


def key_policy() -> dict[str, Any]:
    """The stack key's policy from the template. KMS needs the key policy to allow a request, whatever IAM says;
    this one hands the key to the account's IAM policies (`AccountAdministers`), as a default key policy does."""
    return dict(_resolve(load_template(package.TEMPLATE)["Resources"]["NotificationKey"]["Properties"]["KeyPolicy"]))


@dataclass(frozen=True)
class Request:
    """One request by a principal with identity policies (and maybe a boundary)."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    principal: str = DEPLOYER
    identity: tuple[dict[str, Any], ...] = ()
    boundary: tuple[dict[str, Any], ...] = ()
    why: str = ""

    def __str__(self) -> str:
        where = f" ({self.why})" if self.why else ""
        return f"{self.action} on {self.resource} with {self.context}{where}"


@dataclass(frozen=True)
class Verdict:
    request: Request
    ministack: str
    simulator: str
    ignored: tuple[str, ...]
    errors: Any

    def agreed(self) -> bool:
        return self.ministack == self.simulator and not self.ignored and not self.errors


def _ministack(request: Request) -> str:
    """MiniStack's verdict from the identity policies and the boundary. Its engine applies no KMS key policy here;
    the stack's key policy (and a default one) delegates to IAM, so the IAM verdict is KMS's too."""
    account = request.principal.split(":")[4]
    context = EvalContext(
        principal_arn=request.principal,
        principal_type="AssumedRole" if ":assumed-role/" in request.principal else "Role",
        principal_account=account,
        action=request.action,
        resource_arn=request.resource,
        region=REGION,
        source_ip="10.0.0.1",
        secure_transport=True,
        service_context={k.lower(): v for k, v in request.context.items()},
    )
    own = [parse_policy_document(doc) for doc in request.identity]
    limits = [[parse_policy_document(doc) for doc in request.boundary]] if request.boundary else []
    return _WORDS[evaluate(context, own, *limits).decision]


def judge(requests: list[Request]) -> list[Verdict]:
    """Both evaluators' verdict on each request."""
    simulated = simulator.simulate(
        [
            {
                "principal": r.principal,
                "account": ACCOUNT,
                "action": r.action,
                "resource": r.resource,
                "context": r.context,
                "identity": list(r.identity),
                "boundary": list(r.boundary),
                "resource_policy": key_policy() if r.action.startswith("kms:") and r.resource != "*" else None,
            }
            for r in requests
        ]
    )
    return [
        Verdict(r, _ministack(r), s["result"], tuple(s.get("ignored") or ()), s.get("errors"))
        for r, s in zip(requests, simulated, strict=True)
    ]
