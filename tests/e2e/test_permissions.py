"""Least privilege, proven offline: every AWS call a handler made is allowed by its own role in the template.

The session's local cloud and its Lambda workers log each call (`PIPELINE_CALL_LOG`, set by conftest). This
module runs last (conftest orders it) and judges the calls of the whole session: each is mapped to the IAM
requests AWS authorises for it and evaluated against the function's role policies, taken from the packaged
template (cloudformation/template.yaml rendered, docs/adr/0008-*) and resolved against the deployed stacks, under
each role's permissions boundary (the managed policy the stack names, as the local IAM holds it; MiniStack enforces
neither). It also drives one inline
and one paged file itself, so it proves the main paths when run alone.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.runtime.aws import CALL_LOG_ENV
from pipeline.tools.deploy.package import expanded_template
from pipeline.tools.local import LocalCloud
from tests.e2e.conftest import CALL_LOG, upload_orders, wait_job
from tests.iam.calls import Call, read_calls
from tests.iam.evaluate import Report, as_json, check, summary, unused_grants
from tests.iam.template import Deployed, FunctionRole, deployed_stack, function_roles, without_action

pytestmark = pytest.mark.e2e


def _client(stack: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=stack["Endpoint"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _quiet(path: Path, seconds: float = 2.0, timeout: float = 60.0) -> None:
    """Wait until the call log has stopped growing (calls made just after a job completes are in)."""
    deadline = time.monotonic() + timeout
    size, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = path.stat().st_size if path.exists() else 0
        if now != size:
            size, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
        time.sleep(0.25)


def _deployments(stack: dict[str, str]) -> list[Deployed]:
    """Every pipeline stack in the session's local cloud."""
    cloudformation = _client(stack, "cloudformation")
    return [
        deployed_stack(cloudformation, s["StackName"])
        for s in cloudformation.describe_stacks()["Stacks"]
        if s["StackName"].startswith("pipeline-") and s["StackStatus"].endswith("_COMPLETE")
    ]


_BOUNDARIES: dict[str, dict[str, Any]] = {}


def _boundaries(deployments: list[Deployed]) -> dict[str, dict[str, Any]]:
    """Each boundary the stacks name, with the document of its default version in the local IAM."""
    for d in deployments:
        arn = d.parameters.get("PermissionsBoundaryArn", "")
        if arn and arn not in _BOUNDARIES:
            iam = boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            _BOUNDARIES[arn] = json.loads(document) if isinstance(document, str) else document
    return _BOUNDARIES


def _roles(template: dict[str, Any], deployments: list[Deployed]) -> dict[str, FunctionRole]:
    """The functions of ``deployments`` by name, with their roles resolved from ``template``."""
    boundaries = _boundaries(deployments)
    return {name: role for d in deployments for name, role in function_roles(template, d, boundaries).items()}


@pytest.fixture(scope="module")
def calls(
    local_cloud: LocalCloud,
    stack: dict[str, str],
    aws_clients: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> list[Call]:
    """Every call of the session, after one inline and one paged file of this module's own."""
    log = local_cloud.state_dir / CALL_LOG
    tmp = tmp_path_factory.mktemp("permissions")
    small, _ = upload_orders(aws_clients, stack, tmp, 1_000, start_id=95_000_000, seed=31, name="small.csv")
    large, _ = upload_orders(aws_clients, stack, tmp, 12_000, start_id=96_000_000, seed=32, name="large.csv")
    for key, mode in ((small, "inline"), (large, "paged")):
        job = wait_job(stack, key, timeout=600)
        assert (job["status"], job["mode"]) == ("COMPLETE", mode), job
    _quiet(log)
    return read_calls(log)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return expanded_template()


@pytest.fixture(scope="module")
def deployments(calls: list[Call], stack: dict[str, str]) -> list[Deployed]:
    return _deployments(stack)


@pytest.fixture(scope="module")
def roles(template: dict[str, Any], deployments: list[Deployed]) -> dict[str, FunctionRole]:
    return _roles(template, deployments)


@pytest.fixture(scope="module")
def report(calls: list[Call], roles: dict[str, FunctionRole], local_cloud: LocalCloud) -> Report:
    """The verdicts, printed as a table and kept as JSON next to the call log."""
    result = check(calls, roles)
    print("\nAWS calls by function and IAM action:\n" + summary(result))
    print("granted but not used by any recorded call:", json.dumps(unused_grants(result, roles)))
    artefact = local_cloud.state_dir / "permissions-report.json"
    artefact.write_text(json.dumps(as_json(result), indent=2))
    return result


def test_every_function_of_the_stack_made_recorded_calls(report: Report, stack: dict[str, str]) -> None:
    """The log really reaches the Lambda workers: a check of no calls would prove nothing."""
    functions = {stack[name] for name in stack if name.endswith("Function")}
    silent = sorted(functions - set(report.actions_by_function()))
    assert not silent, f"no AWS calls recorded for {silent}: does {CALL_LOG_ENV} reach the local cloud's workers?"


def test_every_recorded_call_is_allowed_by_its_functions_role(report: Report) -> None:
    problems = report.problems()
    assert not problems, "calls the template's roles do not allow:\n" + "\n".join(problems)


def test_every_role_is_judged_under_the_shipped_boundary(roles: dict[str, FunctionRole]) -> None:
    """The check above evaluates each call under the role's boundary: the boundary the stacks name is the shipped
    docs/permissions-boundary.json, so a boundary that cut a call the pipeline makes would fail it."""
    from pipeline.tools.deploy import boundary

    assert roles and all(role.boundary == (boundary.document(),) for role in roles.values()), sorted(
        (r.logical_role, r.boundary_arn) for r in roles.values()
    )


def test_resolved_roles_match_the_roles_the_stack_deployed(stack: dict[str, str], template: dict[str, Any]) -> None:
    """The resolver agrees with CloudFormation: the policies it builds are the ones IAM holds for each role."""
    iam = _client(stack, "iam")
    deployed = deployed_stack(_client(stack, "cloudformation"), f"pipeline-{stack['Stage']}")
    for role in function_roles(template, deployed, _boundaries([deployed])).values():
        name = role.role_arn.rsplit("/", 1)[-1]
        held = [
            iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        held = [json.loads(doc) if isinstance(doc, str) else doc for doc in held]
        assert held == list(role.documents), role.logical_role
        # on AWS the role carries the boundary; MiniStack's CloudFormation does not attach it (docs/local-cloud.md)
        assert role.boundary_arn == deployed.parameters["PermissionsBoundaryArn"], role.logical_role


def test_removing_any_used_action_from_a_role_fails_naming_function_action_and_resource(
    report: Report,
    calls: list[Call],
    roles: dict[str, FunctionRole],
    deployments: list[Deployed],
    template: dict[str, Any],
) -> None:
    """For each action a function used, the template without it makes the check deny exactly those calls."""
    used = {(d.function, d.action, roles[d.function].logical_role) for d in report.decisions if d.allowed}
    assert used, "no allowed calls to take away"
    already = {(d.function, d.action, d.resource) for d in report.denied}
    for function, action, logical_role in sorted(used):
        reduced = _roles(without_action(template, logical_role, action), deployments)
        denied = check([c for c in calls if c.function == function], reduced).denied
        newly = {(d.function, d.action, d.resource) for d in denied} - already
        needed = {(d.function, d.action, d.resource) for d in report.decisions if d.allowed}
        needed = {n for n in needed if n[:2] == (function, action)}
        assert newly == needed, f"without {action} in {logical_role}"
        assert all(
            str(d).startswith(f"{function}: {action} on {d.resource} DENIED") for d in denied if d.action == action
        )


def test_a_removed_batch_write_is_reported_with_function_action_and_resource(
    calls: list[Call],
    roles: dict[str, FunctionRole],
    deployments: list[Deployed],
    stack: dict[str, str],
    template: dict[str, Any],
) -> None:
    function, table = stack["PageWorkerFunction"], stack["RecordsTable"]
    account = roles[function].where.account
    reduced = without_action(template, "PageWorkerRole", "dynamodb:BatchWriteItem")
    problems = check(calls, _roles(reduced, deployments)).problems()
    expected = f"{function}: dynamodb:BatchWriteItem on arn:aws:dynamodb:us-east-1:{account}:table/{table} DENIED"
    assert any(line.startswith(expected) for line in problems), problems
