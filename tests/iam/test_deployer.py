"""The deployer can deploy and run the pipeline and nothing more (issue 12, finding 3).

Every escalation path of the review, and the usual ones, is evaluated against docs/deployer-policy*.json,
docs/operator-policy.json and docs/permissions-boundary.json and must be denied; everything CloudFormation and the
CLI commands need must be allowed. Each request is judged by MiniStack's IAM engine and by iam-simulate, which
must agree and must not drop a context key as one the action does not have.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline.runtime.contract import load_contracts
from pipeline.tools.deploy import package, retained
from pipeline.tools.deploy.datasets import add_dataset_tables
from tests.iam import simulator
from tests.iam.cloudformation import (
    ACCOUNT,
    ARN,
    BOUNDARY,
    KEY_TAG,
    REGION,
    STACK,
    UNUSED,
    VIA_CLOUDFORMATION,
    handler_permissions,
    needs,
)
from tests.iam.deployer import (
    DEPLOYER_FILES,
    FUNCTION_ROLE,
    Request,
    Verdict,
    boundary,
    deployer_policies,
    judge,
    policy,
)
from tests.iam.template import Deployed, function_roles

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-0000-0000-0000-000000000000"
EVERYTHING = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return add_dataset_tables(package.expanded_template(), load_contracts(package.ROOT / "schemas"))


def deployer(action: str, resource: str, why: str = "", **context: Any) -> Request:
    return Request(action, resource, dict(context), identity=tuple(deployer_policies()), why=why)


def role_with(identity: dict[str, Any], action: str, resource: str, **context: Any) -> Request:
    """A request by code running as a pipeline role whose own policy is ``identity``, under the boundary."""
    return Request(action, resource, dict(context), FUNCTION_ROLE, (identity,), (boundary(),))


DENIED = ("ExplicitlyDenied", "ImplicitlyDenied")


def assert_all(verdicts: list[Verdict], *expected: str) -> None:
    """Both evaluators agree on every request (no context key dropped), and each verdict is one of ``expected``."""
    disagreed = [v for v in verdicts if not v.agreed()]
    assert not disagreed, "\n".join(
        f"{v.request}: ministack {v.ministack}, iam-simulate {v.simulator}, ignored {v.ignored}, {v.errors}"
        for v in disagreed
    )
    wrong = [f"{v.request}: {v.ministack}" for v in verdicts if v.ministack not in expected]
    assert not wrong, f"expected {' or '.join(expected)}:\n" + "\n".join(wrong)


# ------------------------------------------------------------------ the escalation paths: denied
CFN = VIA_CLOUDFORMATION
ESCALATIONS = [
    # a role with `*` and code run as it (the review's path)
    deployer("iam:CreateRole", ARN["role"], "no boundary", **CFN),
    deployer("iam:CreateRole", ARN["role"], "another boundary", **CFN, **{"iam:PermissionsBoundary": ADMIN}),
    deployer("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/{STACK}-x", "outside /pipeline/",
             **{"iam:PermissionsBoundary": BOUNDARY}),
    deployer("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/pipeline/{STACK}-legacy", "a role without it"),
    deployer("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/Admin", "not a pipeline role",
             **{"iam:PermissionsBoundary": BOUNDARY}),
    deployer("iam:AttachRolePolicy", ARN["role"], "AdministratorAccess",
             **{"iam:PermissionsBoundary": BOUNDARY, "iam:PolicyARN": ADMIN}),
    deployer("iam:UpdateAssumeRolePolicy", ARN["role"], "trust the deployer", **{"iam:PermissionsBoundary": BOUNDARY}),
    deployer("iam:DeleteRolePermissionsBoundary", ARN["role"], "drop the boundary",
             **{"iam:PermissionsBoundary": BOUNDARY}),
    deployer("iam:PutRolePermissionsBoundary", ARN["role"], "swap the boundary", **{"iam:PermissionsBoundary": ADMIN}),
    deployer("iam:CreatePolicyVersion", BOUNDARY, "widen the boundary"),
    deployer("iam:SetDefaultPolicyVersion", BOUNDARY, "roll the boundary back"),
    deployer("iam:DeletePolicyVersion", BOUNDARY),
    deployer("iam:DeletePolicy", BOUNDARY),
    deployer("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/pipeline-deployer", "widen itself"),
    deployer("iam:CreatePolicy", f"arn:aws:iam::{ACCOUNT}:policy/pipeline/x"),
    deployer("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/pipeline-x"),
    deployer("iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/admin"),
    deployer("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin", "an admin role to a function",
             **{"iam:PassedToService": "lambda.amazonaws.com"}),
    deployer("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/{STACK}-old", "a role outside /pipeline/",
             **{"iam:PassedToService": "lambda.amazonaws.com"}),
    deployer("iam:PassRole", ARN["role"], "to EC2", **{"iam:PassedToService": "ec2.amazonaws.com"}),
    deployer("iam:PassRole", ARN["role"], "as a CloudFormation service role",
             **{"iam:PassedToService": "cloudformation.amazonaws.com"}),
    deployer("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/Admin"),
    # functions: code running with another role
    deployer("lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:admin-tool", "role-bearing"),
    deployer("lambda:UpdateFunctionConfiguration", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:admin-tool"),
    deployer("lambda:CreateFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:admin-tool"),
    deployer("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:admin-tool"),
    deployer("lambda:InvokeFunction", ARN["function"].replace("-upload", "-pager"), "only the upload function"),
    deployer("lambda:AddPermission", ARN["function"], "anyone may invoke", **{"lambda:Principal": "*"}),
    deployer("lambda:AddPermission", ARN["function"], "another account", **{"lambda:Principal": "210987654321"}),
    deployer("lambda:CreateEventSourceMapping", "*", "feed another function",
             **{"lambda:FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:admin-tool"}),
    # keys: every key in the account before, now only the stack's own
    deployer("kms:PutKeyPolicy", OTHER_KEY, "another key"),
    deployer("kms:ScheduleKeyDeletion", OTHER_KEY),
    deployer("kms:Decrypt", OTHER_KEY),
    deployer("kms:GenerateDataKey", OTHER_KEY),
    deployer("kms:PutKeyPolicy", OTHER_KEY, "tagged for another product", **{"aws:ResourceTag/pipeline-stack": "x"}),
    deployer("kms:TagResource", OTHER_KEY, "claim a key directly", **{"aws:RequestTag/pipeline-stack": STACK}),
    deployer("kms:CreateKey", "*", "untagged", **CFN),
    deployer("kms:CreateKey", "*", "lock the account out", **CFN, **{"aws:RequestTag/pipeline-stack": STACK,
             "kms:BypassPolicyLockoutSafetyCheck": "true"}),
    deployer("kms:PutKeyPolicy", ARN["key"], "lock the account out", **KEY_TAG,
             **{"kms:BypassPolicyLockoutSafetyCheck": "true"}),
    deployer("kms:CreateGrant", ARN["key"], **KEY_TAG),
    # stacks: import someone else's key or bucket into a pipeline stack, or leave the pipeline-* stacks
    deployer("cloudformation:CreateChangeSet", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/x",
             "resource import", **{"cloudformation:ImportResourceTypes": ["AWS::KMS::Key"]}),
    deployer("cloudformation:CreateChangeSet", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/other/x"),
    deployer("cloudformation:DeleteStack", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/other/x"),
    # other data
    deployer("s3:PutBucketPolicy", "arn:aws:s3:::company-data"),
    deployer("s3:GetObject", "arn:aws:s3:::company-data/payroll.csv"),
    deployer("dynamodb:Scan", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/customers"),
    deployer("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"),
]  # fmt: skip

# Code that runs as a pipeline role whose own policy allows everything: the boundary is what stops it.
CAPPED = [
    role_with(EVERYTHING, "iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/backdoor"),
    role_with(EVERYTHING, "iam:PutRolePolicy", ARN["role"], **{"iam:PermissionsBoundary": BOUNDARY}),
    role_with(EVERYTHING, "iam:AttachRolePolicy", ARN["role"], **{"iam:PermissionsBoundary": BOUNDARY,
              "iam:PolicyARN": ADMIN}),
    role_with(EVERYTHING, "iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/Admin",
              **{"iam:PassedToService": "lambda.amazonaws.com"}),
    role_with(EVERYTHING, "sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/Admin"),
    role_with(EVERYTHING, "lambda:UpdateFunctionCode", ARN["function"]),
    role_with(EVERYTHING, "lambda:CreateFunction", ARN["function"].replace("processor", "x")),
    role_with(EVERYTHING, "kms:PutKeyPolicy", ARN["key"], **KEY_TAG),
    role_with(EVERYTHING, "kms:ScheduleKeyDeletion", ARN["key"], **KEY_TAG),
    role_with(EVERYTHING, "kms:Decrypt", OTHER_KEY),
    role_with(EVERYTHING, "s3:GetObject", "arn:aws:s3:::company-data/payroll.csv"),
    role_with(EVERYTHING, "s3:DeleteObjectVersion", ARN["bucket"] + "/orders/a.csv", ),
    role_with(EVERYTHING, "s3:PutBucketPolicy", ARN["bucket"]),
    role_with(EVERYTHING, "dynamodb:DeleteTable", ARN["table"]),
    role_with(EVERYTHING, "cloudformation:DeleteStack", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/x"),
    role_with(EVERYTHING, "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:x"),
    role_with(EVERYTHING, "ec2:RunInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"),
]  # fmt: skip


def test_every_escalation_path_is_denied() -> None:
    """Before the fix: CreateRole without a boundary, PassRole and the KMS requests on any key were allowed."""
    assert_all(judge(ESCALATIONS), *DENIED)


def test_removing_or_editing_the_boundary_is_an_explicit_deny() -> None:
    """Explicit, so that no other policy of the principal can allow it."""
    explicit = [r for r in ESCALATIONS if r.action in ("iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion",
                                                      "iam:SetDefaultPolicyVersion", "iam:DeletePolicy")
                and r.resource in (BOUNDARY, ARN["role"])]  # fmt: skip
    assert len(explicit) == 4
    assert_all(judge(explicit), "ExplicitlyDenied")


def test_code_run_as_a_pipeline_role_with_star_stays_inside_the_boundary() -> None:
    assert_all(judge(CAPPED), "ImplicitlyDenied")
    # the same role can still do pipeline work: the boundary caps, it does not block everything
    assert_all(judge([role_with(EVERYTHING, "s3:GetObject", ARN["bucket"] + "/orders/a.csv"),
                      role_with(EVERYTHING, "kms:Decrypt", ARN["key"], **KEY_TAG)]), "Allowed")  # fmt: skip


def test_the_boundary_denies_nothing_the_templates_roles_grant(template: dict[str, Any]) -> None:
    """Each action on each resource a role policy names (resolved for a stack) is within the boundary."""
    from tests.iam.actions import Account

    names = {k.logical_id: k.name for k in retained.kept_resources(template, STACK, ACCOUNT, REGION)}
    physical = {
        "AWS::SNS::Topic": "arn:aws:sns:eu-west-1:123456789012:{stack}-{l}",
        "AWS::SQS::Queue": "https://sqs.eu-west-1.amazonaws.com/123456789012/{stack}-{l}",
        "AWS::KMS::Key": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "AWS::StepFunctions::StateMachine": "arn:aws:states:eu-west-1:123456789012:stateMachine:{stack}-batch",
        "AWS::Glue::Database": "csv_pipeline_dev",
    }
    resources = {
        logical: (r["Type"], names.get(logical) or physical.get(r["Type"], "{stack}-{l}").format(stack=STACK,
                                                                                                   l=logical.lower()))
        for logical, r in template["Resources"].items()
    }  # fmt: skip
    deployed = Deployed(STACK, Account("aws", REGION, ACCOUNT), {"Stage": "dev", "PermissionsBoundaryArn": BOUNDARY},
                        resources)  # fmt: skip
    roles = function_roles(template, deployed, {BOUNDARY: boundary()})
    requests = []
    for role in roles.values():
        assert role.boundary_arn == BOUNDARY, role.logical_role
        for statement in (s for document in role.documents for s in document["Statement"]):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                for target in targets:
                    if not simulator.action_data(action)["resource_types"]:
                        target = "*"  # an action without resource types is authorised on *
                    elif target.endswith(":log-group:" + target.split(":log-group:")[-1]) and target.endswith(":*"):
                        target = target[:-1] + "log-stream:2026/12/01/[$LATEST]0123"  # streams of the group
                    context = KEY_TAG if action.startswith("kms:") else {}
                    requests.append(role_with(EVERYTHING, action, target.replace("*", "x") if target != "*" else "*",
                                              **context))  # fmt: skip
    assert len(requests) > 50
    assert_all(judge(requests), "Allowed")


# ------------------------------------------------------------------ what deploying and running needs: allowed


def test_everything_cloudformation_does_for_the_template_is_allowed(template: dict[str, Any]) -> None:
    """With the deployer's credentials (aws:CalledVia cloudformation), for every resource type of the stack."""

    wanted = needs(template, lambda action: simulator.action_data(action)["resource_types"])
    assert {n.resource_type for n in wanted} >= {"AWS::IAM::Role", "AWS::KMS::Key", "AWS::Lambda::Function"}
    requests = [Request(n.action, n.resource, n.context, identity=tuple(deployer_policies()), why=n.resource_type)
                for n in wanted]  # fmt: skip
    assert_all(judge(requests), "Allowed")


def test_each_left_out_handler_permission_is_one_the_schema_lists(template: dict[str, Any]) -> None:
    """`UNUSED` only removes real handler permissions, for resource types the template has."""
    types = {r["Type"] for r in template["Resources"].values()}
    for resource_type, unused in UNUSED.items():
        assert resource_type in types, resource_type
        assert set(unused) <= handler_permissions(resource_type), (resource_type, set(unused) - handler_permissions(
            resource_type))


DIRECT = [  # what `pipeline deploy`, `destroy` and the run commands call themselves (tests/e2e records them too)
    ("sts:GetCallerIdentity", "*", {}),
    ("iam:GetPolicy", BOUNDARY, {}),
    ("s3:ListBucket", f"arn:aws:s3:::pipeline-artifacts-{ACCOUNT}-{REGION}", {}),
    ("s3:CreateBucket", f"arn:aws:s3:::pipeline-artifacts-{ACCOUNT}-{REGION}", {}),
    ("s3:PutBucketPublicAccessBlock", f"arn:aws:s3:::pipeline-artifacts-{ACCOUNT}-{REGION}", {}),
    ("s3:PutEncryptionConfiguration", f"arn:aws:s3:::pipeline-artifacts-{ACCOUNT}-{REGION}", {}),
    ("s3:PutObject", ARN["artefact"], {}),
    ("s3:GetObject", ARN["artefact"], {"aws:CalledVia": ["cloudformation.amazonaws.com"]}),
    *((f"cloudformation:{a}", f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/x", {}) for a in (
        "DescribeStacks", "CreateChangeSet", "DescribeChangeSet", "ExecuteChangeSet", "DeleteChangeSet",
        "DescribeStackEvents", "DescribeStackResources", "DeleteStack")),
    ("cloudformation:ListStacks", "*", {}),
    # destroy --delete-data: the kept buckets, tables and log groups
    ("s3:ListBucketVersions", ARN["bucket"], {}),
    ("s3:DeleteObjectVersion", ARN["bucket"] + "/orders/a.csv", {}),
    ("s3:DeleteBucket", ARN["bucket"], {}),
    ("dynamodb:DescribeTable", ARN["table"], {}),
    ("dynamodb:DeleteTable", ARN["table"], {}),
    ("logs:DescribeLogGroups", "*", {}),
    ("logs:DeleteLogGroup", ARN["log-group"], {}),
    # logs: every function's lines for one job
    ("logs:FilterLogEvents", ARN["log-group"], {}),
    # outputs, ingest, jobs, executions, query, redrive
    ("s3:PutObject", ARN["bucket"] + "/orders/orders.csv", {}),
    ("dynamodb:Query", ARN["table"], {}),
    ("dynamodb:Scan", ARN["table"], {}),
    ("dynamodb:UpdateItem", ARN["table"], {}),
    ("dynamodb:GetItem", ARN["table"].replace("jobs", "records"), {}),
    ("states:ListExecutions", ARN["state-machine"], {}),
    ("states:DescribeExecution", ARN["state-machine"].replace("stateMachine", "execution") + ":job-1", {}),
    ("states:GetExecutionHistory", ARN["state-machine"].replace("stateMachine", "execution") + ":job-1", {}),
    ("states:StartExecution", ARN["state-machine"], {}),
    ("sns:Publish", ARN["topic"].replace("ingest", "pages"), {}),
    ("kms:GenerateDataKey", ARN["key"], dict(KEY_TAG)),
    ("lambda:InvokeFunction", ARN["function"], {}),
    ("sqs:GetQueueAttributes", ARN["queue"] + "-dlq", {}),
    ("athena:StartQueryExecution", ARN["workgroup"], {}),
    ("athena:GetQueryResults", ARN["workgroup"], {}),
    ("glue:GetTable", ARN["glue-table"], {}),
    ("s3:PutObject", ARN["results"] + "/_athena/q.csv", {}),
    ("s3:GetObject", ARN["results"] + "/_rejects/orders/job=1/page-1.csv", {}),
    # deploy and schema diff read the stage's contracts back from the code zip it runs (issue 15)
    ("s3:GetObject", ARN["artefact"], {}),
    # deploy after a safe contract change: registered partitions take the table's new column list
    ("glue:GetPartitions", ARN["glue-table"], {}),
    ("glue:BatchUpdatePartition", ARN["glue-table"], {}),
    # deploy --archive-output: the dataset's output moved under _archive/, its partitions dropped
    ("s3:ListBucket", ARN["results"], {}),
    ("s3:GetObject", ARN["results"] + "/orders/dt=2024-01-01/part-1.tsv", {}),
    ("s3:PutObject", ARN["results"] + "/_archive/orders/20260101T000000Z/orders/dt=2024-01-01/part-1.tsv", {}),
    ("s3:DeleteObject", ARN["results"] + "/orders/dt=2024-01-01/part-1.tsv", {}),
    ("glue:BatchDeletePartition", ARN["glue-table"], {}),
    ("glue:DeletePartition", ARN["glue-table"], {}),
]  # fmt: skip


def test_what_the_commands_call_directly_is_allowed() -> None:
    assert_all(judge([deployer(a, r, **c) for a, r, c in DIRECT]), "Allowed")


# ------------------------------------------------------------------ the documents themselves


@pytest.mark.parametrize("name", [*DEPLOYER_FILES, "permissions-boundary.json"])
def test_each_policy_fits_a_managed_policy(name: str) -> None:
    """IAM counts a managed policy's characters without whitespace: at most 6,144."""
    assert len("".join(json.dumps(policy(name), separators=(",", ":")).split())) <= 6144


@pytest.mark.parametrize("name", [*DEPLOYER_FILES, "permissions-boundary.json"])
def test_every_action_and_condition_key_is_one_aws_has_for_it(name: str) -> None:
    """A condition key an action does not have is never in its request: an Allow on it never applies (the deploy
    breaks) and a Deny on it never denies. Checked against iam-data, the Service Authorization Reference."""
    problems = []
    for statement in policy(name)["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        keys = {k for block in statement.get("Condition", {}).values() for k in block}
        for action in actions:
            if "*" in action:
                continue
            try:
                known = simulator.action_data(action)["keys"]
            except KeyError:
                problems.append(f"{statement['Sid']}: {action} is not an IAM action")
                continue
            patterns = {k.split("${")[0] for k in known}
            for key in keys:
                if key == "aws:CalledVia":  # global: present on every request a listed service makes for you
                    continue
                if key not in known and not any(key.startswith(p) for p in patterns if p.endswith("/")):
                    problems.append(f"{statement['Sid']}: {action} has no condition key {key}")
    assert not problems, "\n".join(problems)
