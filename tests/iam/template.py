"""Each Lambda function's role policies from the CloudFormation template, resolved against a deployed stack.

A role's `PermissionsBoundary` is resolved to its ARN and paired with that managed policy's document, which the
caller supplies (the shipped file, or the version IAM holds): AWS allows a role's request only when both its own
policies and its boundary allow it.

Intrinsics (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Split`, `Fn::Select`, `Fn::If`) are resolved with the
stack's parameters and the physical ids CloudFormation reports (`DescribeStackResources`); an attribute or
function this module does not know raises `TemplateError` rather than guessing.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from tests.iam.actions import Account

_NO_VALUE = object()
_POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


class TemplateError(Exception):
    """The template uses something this resolver cannot resolve faithfully."""


@dataclass(frozen=True)
class Deployed:
    """A deployed stack: its name, account, parameter values and each logical resource's (type, physical id)."""

    stack_name: str
    where: Account
    parameters: dict[str, str]
    resources: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class FunctionRole:
    """A Lambda function and the resolved policy documents of its execution role."""

    function: str
    logical_function: str
    logical_role: str
    role_arn: str
    where: Account
    documents: tuple[dict[str, Any], ...]
    boundary_arn: str = ""
    boundary: tuple[dict[str, Any], ...] = ()


def deployed_stack(cloudformation: Any, stack_name: str) -> Deployed:
    """Read ``stack_name`` through the CloudFormation API (`DescribeStacks`, `DescribeStackResources`)."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    _, partition, _, region, account, _ = stack["StackId"].split(":", 5)
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    machines = tuple(
        r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::StepFunctions::StateMachine"
    )
    return Deployed(
        stack_name,
        Account(partition, region, account, machines),
        {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])},
        {r["LogicalResourceId"]: (r["ResourceType"], r.get("PhysicalResourceId", "")) for r in resources},
    )


class _Resolver:
    def __init__(self, template: dict[str, Any], stack: Deployed) -> None:
        self.template = template
        self.stack = stack
        w = stack.where
        self.pseudo = {
            "AWS::StackName": stack.stack_name,
            "AWS::AccountId": w.account,
            "AWS::Region": w.region,
            "AWS::Partition": w.partition,
            "AWS::URLSuffix": "amazonaws.com",
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self(item) for item in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            name, arg = next(iter(value.items()))
            if name == "Ref":
                return self.ref(arg)
            if name == "Condition":
                return self.condition(arg)
            if name.startswith("Fn::"):
                method = getattr(self, "fn_" + name[4:].lower(), None)
                if method is None:
                    raise TemplateError(f"unsupported intrinsic {name}")
                return method(arg)
        return {k: v for k, v in ((k, self(v)) for k, v in value.items()) if v is not _NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.template.get("Parameters", {}):
            default = self.template["Parameters"][name].get("Default", "")
            return self.stack.parameters.get(name, str(default))
        if name in self.stack.resources:
            return self.stack.resources[name][1]
        raise TemplateError(f"Ref {name}: not a parameter, pseudo parameter or deployed resource")

    def fn_getatt(self, arg: list[str] | str) -> str:
        logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
        if logical not in self.stack.resources:
            raise TemplateError(f"GetAtt {logical}.{attribute}: {logical} is not deployed")
        kind, physical = self.stack.resources[logical]
        if kind == "AWS::IAM::Role" and attribute == "Arn":  # a role's ARN carries its path
            path = self(self.template["Resources"][logical]["Properties"].get("Path", "/"))
            w = self.stack.where
            return f"arn:{w.partition}:iam::{w.account}:role{path}{physical}"
        return get_att(kind, physical, attribute, self.stack.where)

    def fn_sub(self, arg: str | list[Any]) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self.fn_getatt(name))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def fn_join(self, arg: list[Any]) -> str:
        delimiter, items = arg
        return str(delimiter).join(str(v) for v in self(items))

    def fn_split(self, arg: list[Any]) -> list[str]:
        delimiter, text = arg
        return str(self(text)).split(delimiter)

    def fn_select(self, arg: list[Any]) -> Any:
        index, items = arg
        return self(items)[int(self(index))]

    def fn_if(self, arg: list[Any]) -> Any:
        name, when_true, when_false = arg
        return self(when_true if self.condition(name) else when_false)

    def condition(self, name: str) -> bool:
        return bool(self(self.template.get("Conditions", {})[name]))

    def fn_equals(self, arg: list[Any]) -> bool:
        left, right = self(arg)
        return str(left) == str(right)

    def fn_not(self, arg: list[Any]) -> bool:
        return not self(arg[0])

    def fn_and(self, arg: list[Any]) -> bool:
        return all(self(arg))

    def fn_or(self, arg: list[Any]) -> bool:
        return any(self(arg))


def get_att(kind: str, physical: str, attribute: str, where: Account) -> str:
    """`Fn::GetAtt` of the attributes role policies use, built from the physical id as CloudFormation does."""
    p, r, a = where.partition, where.region, where.account
    if physical.startswith("arn:") and attribute in ("Arn", "TopicArn"):
        return physical
    if kind == "AWS::SQS::Queue":
        account, name = [part for part in urlparse(physical).path.split("/") if part]
        return {"Arn": f"arn:{p}:sqs:{r}:{account}:{name}", "QueueName": name}[attribute]
    formats = {
        ("AWS::S3::Bucket", "Arn"): "arn:{p}:s3:::{id}",
        ("AWS::DynamoDB::Table", "Arn"): "arn:{p}:dynamodb:{r}:{a}:table/{id}",
        ("AWS::KMS::Key", "Arn"): "arn:{p}:kms:{r}:{a}:key/{id}",
        ("AWS::Logs::LogGroup", "Arn"): "arn:{p}:logs:{r}:{a}:log-group:{id}:*",
        ("AWS::Lambda::Function", "Arn"): "arn:{p}:lambda:{r}:{a}:function:{id}",
        ("AWS::IAM::Role", "Arn"): "arn:{p}:iam::{a}:role/{id}",
    }
    if (kind, attribute) not in formats:
        raise TemplateError(f"GetAtt {attribute} of {kind} is not supported")
    return formats[(kind, attribute)].format(p=p, r=r, a=a, id=physical)


def _role_documents(template: dict[str, Any], logical_role: str) -> list[dict[str, Any]]:
    """The unresolved policy documents of a role: its inline `Policies` and `AWS::IAM::(Managed)Policy`s naming it."""
    resources = template["Resources"]
    role = resources[logical_role]["Properties"]
    unsupported = [k for k in ("ManagedPolicyArns",) if role.get(k)]
    if unsupported:
        raise TemplateError(f"{logical_role}: {', '.join(unsupported)} cannot be evaluated offline")
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    for resource in resources.values():
        if resource.get("Type") in _POLICY_TYPES and {"Ref": logical_role} in resource["Properties"].get("Roles", []):
            documents.append(resource["Properties"]["PolicyDocument"])
    return documents


def function_roles(
    template: dict[str, Any], stack: Deployed, boundaries: dict[str, dict[str, Any]] | None = None
) -> dict[str, FunctionRole]:
    """Every Lambda function of ``stack`` by physical name, with its role's resolved policy documents.

    ``boundaries`` maps a permissions boundary's ARN to its document; a role whose boundary is not in it raises
    `TemplateError` (a boundary that cannot be evaluated must not be skipped).
    """
    resolve = _Resolver(template, stack)
    boundaries = boundaries or {}
    roles: dict[str, FunctionRole] = {}
    for logical, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Lambda::Function":
            continue
        role = resource["Properties"]["Role"]
        if not (isinstance(role, dict) and "Fn::GetAtt" in role):
            raise TemplateError(f"{logical}: Role is not `!GetAtt <role>.Arn` of a role in this template")
        logical_role = (
            role["Fn::GetAtt"][0] if isinstance(role["Fn::GetAtt"], list) else role["Fn::GetAtt"].split(".")[0]
        )
        name = resolve.ref(logical)
        boundary_arn = resolve(template["Resources"][logical_role]["Properties"].get("PermissionsBoundary", ""))
        boundary_arn = "" if boundary_arn is _NO_VALUE else str(boundary_arn)
        if boundary_arn and boundary_arn not in boundaries:
            raise TemplateError(f"{logical_role}: no document given for its permissions boundary {boundary_arn}")
        roles[name] = FunctionRole(
            name,
            logical,
            logical_role,
            resolve(role),
            stack.where,
            tuple(resolve(doc) for doc in _role_documents(template, logical_role)),
            boundary_arn,
            (boundaries[boundary_arn],) if boundary_arn else (),
        )
    return roles


def without_action(template: dict[str, Any], logical_role: str, action: str) -> dict[str, Any]:
    """A copy of ``template`` whose role ``logical_role`` no longer names ``action`` in any Allow statement."""
    changed = copy.deepcopy(template)
    removed = 0
    for document in _role_documents(changed, logical_role):
        kept = []
        for statement in document["Statement"]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if statement.get("Effect") == "Allow" and any(a.lower() == action.lower() for a in actions):
                statement["Action"] = [a for a in actions if a.lower() != action.lower()]
                removed += 1
                if not statement["Action"]:
                    continue
            kept.append(statement)
        document["Statement"] = kept
    if not removed:
        raise TemplateError(f"{logical_role} names no {action} to remove")
    return changed
