"""The offline permission check: call -> IAM request mapping, template resolution and policy evaluation."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pipeline.tools.deploy.package import expanded_template
from tests.iam.actions import MAPPERS, Account, Request, UnmappedCall, requests_for
from tests.iam.calls import Call, read_calls
from tests.iam.evaluate import check, decide
from tests.iam.template import Deployed, FunctionRole, TemplateError, function_roles, without_action

HERE = Account("aws", "us-east-1", "123456789012")
STACK = "pipeline-t"


def role(*statements: dict[str, Any]) -> FunctionRole:
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return FunctionRole("fn", "Fn", "FnRole", "arn:aws:iam::123456789012:role/fn-role", HERE, (document,))


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Sid": "A", "Effect": "Allow", "Action": action, "Resource": resource, **extra}


# ------------------------------------------------------------------ evaluation semantics we rely on
@pytest.mark.parametrize(
    ("statements", "request_", "allowed"),
    [
        ([allow("s3:GetObject", "arn:aws:s3:::b/*")], Request("s3:GetObject", "arn:aws:s3:::b/k/1.csv"), True),
        ([allow("s3:Get*", "arn:aws:s3:::b/*")], Request("s3:GetObjectVersion", "arn:aws:s3:::b/k"), True),
        ([allow("s3:GetObject", "arn:aws:s3:::b/*")], Request("s3:GetObject", "arn:aws:s3:::other/k"), False),
        ([allow("s3:GetObject", "arn:aws:s3:::b/*")], Request("s3:PutObject", "arn:aws:s3:::b/k"), False),
        ([allow("s3:getobject", "arn:aws:s3:::b/*")], Request("s3:GetObject", "arn:aws:s3:::b/k"), True),
        ([allow("s3:GetObject", "arn:aws:s3:::B/*")], Request("s3:GetObject", "arn:aws:s3:::b/k"), False),
        ([allow("s3:GetObject", "arn:aws:s3:::b/*")], Request("s3:GetObject", "arn:aws:s3:::b"), False),
        ([allow("sqs:*", "*")], Request("sqs:SendMessage", "arn:aws:sqs:us-east-1:1:q"), True),
        # a statement naming an ARN never matches an action that has no resource type (evaluated against "*")
        (
            [allow("states:SendTaskSuccess", "arn:aws:states:us-east-1:1:stateMachine:m")],
            Request("states:SendTaskSuccess", "*"),
            False,
        ),
        ([allow("states:SendTaskSuccess", "*")], Request("states:SendTaskSuccess", "*"), True),
        (
            [allow("s3:*", "*"), {"Sid": "D", "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"}],
            Request("s3:PutObject", "arn:aws:s3:::b/k"),
            False,
        ),
        ([{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}], Request("sns:Publish", "arn:x"), True),
        ([{"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}], Request("s3:GetObject", "arn:x"), False),
        (
            [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/*"}],
            Request("s3:GetObject", "arn:aws:s3:::b/k"),
            False,
        ),
        (
            [allow("sns:Publish", "*", Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}})],
            Request("sns:Publish", "arn:aws:sns:us-east-1:1:t"),
            True,
        ),
        (
            [allow("sns:Publish", "*", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})],
            Request("sns:Publish", "arn:aws:sns:us-east-1:1:t"),
            False,
        ),
    ],
)
def test_policy_evaluation(statements: list[dict[str, Any]], request_: Request, allowed: bool) -> None:
    assert decide(role(*statements), request_)[0] is allowed


def test_explicit_deny_is_named() -> None:
    statements = (allow("s3:*", "*"), {"Sid": "NoWrites", "Effect": "Deny", "Action": "s3:Put*", "Resource": "*"})
    assert decide(role(*statements), Request("s3:PutObject", "arn:aws:s3:::b/k")) == (
        False,
        "explicit deny by NoWrites of FnRole",
    )


# ------------------------------------------------------------------ call -> IAM requests
def requests(service: str, operation: str, **params: Any) -> list[Request]:
    return requests_for(Call("fn", service, operation, params), HERE)


def test_s3_object_calls_map_to_object_arns_and_versions_to_the_version_action() -> None:
    assert requests("s3", "GetObject", Bucket="b", Key="k/1.csv") == [Request("s3:GetObject", "arn:aws:s3:::b/k/1.csv")]
    assert requests("s3", "GetObject", Bucket="b", Key="k", VersionId="v1") == [
        Request("s3:GetObjectVersion", "arn:aws:s3:::b/k")
    ]
    assert requests("s3", "HeadObject", Bucket="b", Key="k") == [Request("s3:GetObject", "arn:aws:s3:::b/k")]
    assert requests("s3", "ListObjectsV2", Bucket="b") == [Request("s3:ListBucket", "arn:aws:s3:::b")]


def test_dynamodb_batch_and_transact_calls_authorise_each_table_and_item() -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/"
    assert requests("dynamodb", "BatchWriteItem", RequestItems=["a", "b"]) == [
        Request("dynamodb:BatchWriteItem", table + "a"),
        Request("dynamodb:BatchWriteItem", table + "b"),
    ]
    assert requests("dynamodb", "TransactWriteItems", TransactItems=["Put:jobs", "Update:jobs"]) == [
        Request("dynamodb:PutItem", table + "jobs"),
        Request("dynamodb:UpdateItem", table + "jobs"),
    ]
    assert requests("dynamodb", "Query", TableName="jobs", IndexName="by_status") == [
        Request("dynamodb:Query", table + "jobs/index/by_status")
    ]
    with pytest.raises(UnmappedCall, match="names no item operation"):
        requests("dynamodb", "TransactWriteItems", TransactItems=["jobs"])


def test_queue_topic_state_machine_and_glue_resources() -> None:
    url = "http://127.0.0.1:4566/123456789012/pipeline-t-pages"
    assert requests("sqs", "ChangeMessageVisibility", QueueUrl=url) == [
        Request("sqs:ChangeMessageVisibility", "arn:aws:sqs:us-east-1:123456789012:pipeline-t-pages")
    ]
    assert requests("sqs", "GetQueueUrl", QueueName="q") == [
        Request("sqs:GetQueueUrl", "arn:aws:sqs:us-east-1:123456789012:q")
    ]
    assert requests("sns", "PublishBatch", TopicArn="arn:aws:sns:us-east-1:1:t") == [
        Request("sns:Publish", "arn:aws:sns:us-east-1:1:t")
    ]
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline-t-batch"
    with_machine = Account("aws", "us-east-1", "123456789012", (machine,))
    assert requests_for(Call("fn", "stepfunctions", "SendTaskSuccess"), with_machine) == [
        Request("states:SendTaskSuccess", machine)
    ]
    with pytest.raises(UnmappedCall, match="which of 0 state machines"):
        requests("stepfunctions", "SendTaskFailure")
    glue = "arn:aws:glue:us-east-1:123456789012:"
    assert requests("glue", "GetTable", DatabaseName="db", Name="orders") == [
        Request("glue:GetTable", glue + "catalog"),
        Request("glue:GetTable", glue + "database/db"),
        Request("glue:GetTable", glue + "table/db/orders"),
    ]


def test_the_cli_calls_map_to_their_resources() -> None:
    """Calls `pipeline deploy`, `destroy` and the run commands make (judged against the deployer's policies)."""
    assert requests("cloudformation", "CreateChangeSet", StackName="pipeline-t") == [
        Request("cloudformation:CreateChangeSet",
                "arn:aws:cloudformation:us-east-1:123456789012:stack/pipeline-t/00000000-0000-0000-0000-000000000000")
    ]  # fmt: skip
    assert requests("s3", "DeleteObjects", Bucket="b", Keys=["k"], Versioned=True) == [
        Request("s3:DeleteObjectVersion", "arn:aws:s3:::b/k")
    ]
    assert requests("logs", "DeleteLogGroup", logGroupName="/aws/lambda/f") == [
        Request("logs:DeleteLogGroup", "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f")
    ]
    assert requests("lambda", "Invoke", FunctionName="pipeline-t-upload") == [
        Request("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:pipeline-t-upload")
    ]
    assert requests("logs", "DescribeLogGroups") == [Request("logs:DescribeLogGroups", "*")]


def test_unknown_operations_and_missing_parameters_fail_loudly() -> None:
    with pytest.raises(UnmappedCall, match="s3 PutBucketAcl has no IAM mapping"):
        requests("s3", "PutBucketAcl", Bucket="b")
    with pytest.raises(UnmappedCall, match="does not record QueueName"):
        requests("sqs", "GetQueueUrl")


def test_every_mapped_action_is_a_real_iam_action() -> None:
    actions_data = pytest.importorskip("policy_sentry.querying.actions")
    samples = {
        "Bucket": "b", "Key": "k", "Keys": ["k"], "VersionId": "v", "TableName": "t", "RequestItems": ["t"],
        "TransactItems": ["Put:t", "Update:t", "Delete:t", "ConditionCheck:t"], "TopicArn": "arn:aws:sns:r:1:t",
        "QueueUrl": "http://h/1/q", "QueueName": "q", "stateMachineArn": "arn:aws:states:r:1:stateMachine:m",
        "executionArn": "arn:aws:states:r:1:execution:m:e", "DatabaseName": "d", "Name": "n", "FunctionName": "f",
        "StackName": "s", "PolicyArn": "arn:aws:iam::1:policy/p", "logGroupName": "/aws/lambda/f",
    }  # fmt: skip
    where = Account("aws", "us-east-1", "1", ("arn:aws:states:r:1:stateMachine:m",))
    names = {r.action for (service, op) in MAPPERS for r in requests_for(Call("f", service, op, samples), where)}
    unknown = [a for a in sorted(names) if not actions_data.get_action_data(*a.split(":"))]
    assert not unknown, unknown


def test_read_calls(tmp_path: Path) -> None:
    log = tmp_path / "calls.jsonl"
    log.write_text(
        json.dumps({"function": "f", "service": "s3", "operation": "GetObject", "params": {"Bucket": "b"}})
        + "\n"
        + json.dumps({"function": None, "service": "sts", "operation": "GetCallerIdentity", "params": {}})
        + "\n"
    )
    assert read_calls(log) == [Call("f", "s3", "GetObject", {"Bucket": "b"}), Call(None, "sts", "GetCallerIdentity")]
    assert read_calls(tmp_path / "missing.jsonl") == []
    log.write_text("not json\n")
    with pytest.raises(ValueError, match=r"calls\.jsonl:1"):
        read_calls(log)


# ------------------------------------------------------------------ the real template, resolved
def fake_deployment(template: dict[str, Any]) -> Deployed:
    """Physical ids shaped like CloudFormation's for every resource of the template."""
    physical = {
        "AWS::SNS::Topic": "arn:aws:sns:us-east-1:123456789012:{stack}-{logical}",
        "AWS::SQS::Queue": "http://127.0.0.1:4566/123456789012/{stack}-{logical}",
        "AWS::StepFunctions::StateMachine": "arn:aws:states:us-east-1:123456789012:stateMachine:{stack}-batch",
        "AWS::KMS::Key": "1234abcd-0000-0000-0000-{logical}",
    }
    resources = {
        logical: (r["Type"], physical.get(r["Type"], "{stack}-{logical}").format(stack=STACK, logical=logical.lower()))
        for logical, r in template["Resources"].items()
    }
    return Deployed(STACK, HERE, {"Stage": "t"}, resources)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return expanded_template()


def test_every_function_role_resolves_to_plain_arns(template: dict[str, Any]) -> None:
    roles = function_roles(template, fake_deployment(template))
    assert set(roles) == {
        f"{STACK}-{n}" for n in ("uploadfunction", "inventoryfunction", "pagerfunction", "pageworkerfunction",
                                 "jobstepsfunction", "compactfunction")
    }  # fmt: skip
    text = json.dumps([r.documents for r in roles.values()])
    assert "Ref" not in text and "Fn::" not in text and "${" not in text
    pager = roles[f"{STACK}-pagerfunction"]
    assert pager.logical_role == "PagerRole"
    resources = {s["Sid"]: s["Resource"] for d in pager.documents for s in d["Statement"]}
    assert resources["ReadUploads"] == f"arn:aws:s3:::{STACK}-ingest-123456789012-us-east-1/*"
    assert resources["TrackJobs"] == f"arn:aws:dynamodb:us-east-1:123456789012:table/{STACK}-jobstable"
    assert resources["PublishPages"] == f"arn:aws:sns:us-east-1:123456789012:{STACK}-pagestopic"


def test_removing_an_action_from_a_role_denies_the_calls_that_needed_it(template: dict[str, Any]) -> None:
    function = f"{STACK}-pageworkerfunction"
    calls = [Call(function, "dynamodb", "BatchWriteItem", {"RequestItems": [f"{STACK}-recordstable"]})] * 3
    assert not check(calls, function_roles(template, fake_deployment(template))).denied

    reduced = without_action(template, "PageWorkerRole", "dynamodb:BatchWriteItem")
    report = check(calls, function_roles(reduced, fake_deployment(reduced)))
    assert [str(d) for d in report.denied] == [
        f"{function}: dynamodb:BatchWriteItem on arn:aws:dynamodb:us-east-1:123456789012:table/{STACK}-recordstable "
        "DENIED (no statement of PageWorkerRole allows it; 3 calls)"
    ]
    assert "dynamodb:BatchWriteItem" in json.dumps(template)  # the original is untouched
    with pytest.raises(TemplateError, match="names no sns:Publish"):
        without_action(template, "PageWorkerRole", "sns:Publish")


def test_calls_outside_lambda_and_from_unknown_functions_are_reported(template: dict[str, Any]) -> None:
    calls = [Call(None, "s3", "PutObject", {}), Call("stranger", "s3", "PutObject", {"Bucket": "b", "Key": "k"})]
    report = check(calls, function_roles(template, fake_deployment(template)))
    assert report.outside_lambda == 1
    assert report.problems() == ["stranger: 1 calls from a function no checked stack defines"]


def test_lambda_code_creates_aws_clients_only_through_the_logging_factory() -> None:
    """The call log is complete only if every handler call goes through `pipeline.runtime.aws` (where the hook is)."""
    from pipeline.tools.deploy.package import build_code_zip

    with zipfile.ZipFile(io.BytesIO(build_code_zip())) as code:
        sources = {n: code.read(n).decode() for n in code.namelist() if n.endswith(".py")}
    assert "pipeline/runtime/aws.py" in sources and "handlers/page_worker.py" in sources
    direct = re.compile(
        r"boto3\.(client|resource|Session|session\.Session)\(|from boto3 import .*\b(client|resource|Session)\b"
        r"|botocore\.session|aioboto"
    )
    assert [n for n, text in sources.items() if n != "pipeline/runtime/aws.py" and direct.search(text)] == []


def test_the_local_cloud_hands_the_call_log_to_its_lambda_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """MiniStack's workers inherit its environment: the server must keep PIPELINE_CALL_LOG (and drop the rest)."""
    from pipeline.tools.local import LocalCloud

    monkeypatch.setenv("PIPELINE_CALL_LOG", "/tmp/calls.jsonl")
    monkeypatch.setenv("PIPELINE_STAGE", "x")
    environment = LocalCloud(tmp_path, 4599)._server_environment()
    assert environment["PIPELINE_CALL_LOG"] == "/tmp/calls.jsonl"
    assert "PIPELINE_STAGE" not in environment
