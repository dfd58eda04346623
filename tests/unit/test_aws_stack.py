"""The template's AWS side (layers, tracing, Powertools settings, dashboard, alarms) and destroying a stage."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import REPO

from pipeline.deploy import stack
from pipeline.deploy.cfn_yaml import load_template
from pipeline.deploy.stack import DeployError, Target, pandas_layer_arn, platform_of

TEMPLATE = REPO / "cloudformation" / "template.yaml"
PANDAS_FUNCTIONS = {"ProcessorFunction", "PagerFunction", "PageProcessorFunction"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["Ref"]} if isinstance(node.get("Ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


# ------------------------------------------------------------------ template


def test_every_function_runs_the_packaged_platform_with_the_deps_layer_and_tracing(template):
    functions = _functions(template)
    assert len(functions) == 5
    for name, props in functions.items():
        assert props["Runtime"] == {"Ref": "LambdaRuntime"}, name
        assert props["Architectures"] == [{"Ref": "LambdaArchitecture"}], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert "DepsLayer" in _refs(props["Layers"]), name
        assert ("PandasLayerArn" in _refs(props["Layers"])) is (name in PANDAS_FUNCTIONS), name


def test_every_function_configures_powertools_from_its_environment(template):
    for name, props in _functions(template).items():
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"], name
        assert env["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}, name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CsvPipeline", name
        assert env["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TraceHandlersOn", "false", "true"]}, name
        assert env["PIPELINE_STAGE"] == {"Ref": "Stage"}, name


def test_deps_layer_is_built_for_the_same_platform(template):
    layer = template["Resources"]["DepsLayer"]
    assert layer["Condition"] == "HasDepsLayer"
    assert layer["Properties"]["CompatibleRuntimes"] == [{"Ref": "LambdaRuntime"}]
    assert layer["Properties"]["CompatibleArchitectures"] == [{"Ref": "LambdaArchitecture"}]
    assert layer["Properties"]["Content"]["S3Key"] == {"Ref": "DepsLayerKey"}


def test_state_machine_is_traced(template):
    assert template["Resources"]["BatchStateMachine"]["Properties"]["TracingConfiguration"] == {"Enabled": True}


def test_pandas_layer_mapping_has_a_version_per_region(template):
    mapping = template["Mappings"]["PandasLayerPython312"]
    assert "us-east-1" in mapping
    for region, entry in mapping.items():
        assert re.fullmatch(r"[a-z]{2}-[a-z]+-\d", region), region
        assert entry["Version"].isdigit(), region
    assert template["Parameters"]["PandasLayerArn"]["Default"] == stack.REGIONAL


def test_alarms_cover_dead_letters_errors_throttles_executions_and_page_age(template):
    """Plain single-metric alarms: the local cloud does not take metric math."""
    alarms = {k: r["Properties"] for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    by_metric: dict[str, set[str]] = {}
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert "Metrics" not in props
        by_metric.setdefault(props["MetricName"], set()).update(_refs(props["Dimensions"]))
    functions = set(_functions(template))
    assert by_metric["Errors"] == functions
    assert by_metric["Throttles"] == functions
    assert by_metric["ExecutionsFailed"] == by_metric["ExecutionsTimedOut"] == {"BatchStateMachine"}
    assert "ApproximateNumberOfMessagesVisible" in by_metric
    assert "ApproximateAgeOfOldestMessage" in by_metric


def test_dashboard_shows_rows_latency_queue_and_executions(template):
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "X", body))["widgets"]
    titles = " | ".join(w["properties"]["title"] for w in widgets)
    for word in ("Rows", "latency", "queue", "executions", "errors"):
        assert word in titles
    for metric in ("RowsValid", "RowsRejected", "PageSeconds", "JobsFailed"):
        assert f'MetricName=\\"{metric}\\"' in body, metric
    names = set(re.findall(r"\$\{([A-Za-z:.]+)\}", body))
    queues = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]
    assert names <= set(template["Resources"]) | {"AWS::Region", "Stage"} | {f"{q}.QueueName" for q in queues}
    for queue in queues:  # every queue's depth is on the dashboard
        assert f"${{{queue}.QueueName}}" in body, queue


# ------------------------------------------------------------------ deploy parameters


def test_local_parameters_attach_no_layer_and_disable_tracing():
    assert stack.LOCAL_PARAMETERS == {"PandasLayerArn": "", "TraceHandlers": "false"}


def test_platform_comes_from_the_parameters():
    assert str(platform_of({})) == "python3.12/x86_64"
    assert str(platform_of({"LambdaRuntime": "python3.13", "LambdaArchitecture": "arm64"})) == "python3.13/arm64"


def test_regional_pandas_layer_arn(template):
    version = template["Mappings"]["PandasLayerPython312"]["us-east-1"]["Version"]
    assert pandas_layer_arn(template, "us-east-1", {}) == (
        f"arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python312:{version}"
    )
    assert pandas_layer_arn(template, "us-east-1", {"LambdaArchitecture": "arm64"}).endswith(
        f"AWSSDKPandas-Python312-Arm64:{version}"
    )
    explicit = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python313:9"
    assert pandas_layer_arn(template, "xx-nowhere-1", {"PandasLayerArn": explicit}) == explicit
    assert pandas_layer_arn(template, "us-east-1", {"PandasLayerArn": ""}) == ""


@pytest.mark.parametrize(
    ("region", "parameters"), [("xx-nowhere-1", {}), ("us-east-1", {"LambdaRuntime": "python3.13"})]
)
def test_no_regional_default_asks_for_an_explicit_arn(template, region, parameters):
    with pytest.raises(DeployError, match="PandasLayerArn="):
        pandas_layer_arn(template, region, parameters)


# ------------------------------------------------------------------ destroy


class FakeS3:
    def __init__(self, objects: dict[str, list[dict[str, str]]]) -> None:
        self.objects = objects
        self.deleted: list[tuple[str, int]] = []

    def list_object_versions(self, Bucket: str, MaxKeys: int = 1000) -> dict[str, Any]:
        return {"Versions": self.objects.get(Bucket, [])[:MaxKeys]}

    def get_paginator(self, name: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, Bucket: str) -> list[dict[str, Any]]:
                return [{"Versions": list(fake.objects.get(Bucket, [])), "DeleteMarkers": []}]

        return Paginator()

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> None:
        self.deleted.append((Bucket, len(Delete["Objects"])))
        self.objects[Bucket] = []


class FakeCloudFormation:
    def __init__(self) -> None:
        self.exists = True

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if not self.exists:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "ValidationError", "Message": "does not exist"}}, "DescribeStacks")
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in (("IngestBucket", "in"), ("ResultsBucket", "out"))]
        return {"Stacks": [{"StackStatus": "CREATE_COMPLETE", "Outputs": outputs}]}

    def delete_stack(self, StackName: str) -> None:
        self.exists = False


@pytest.fixture
def fake_cloud(monkeypatch):
    s3 = FakeS3({"in": [{"Key": "orders/a.csv", "VersionId": "v1"}, {"Key": "orders/a.csv", "VersionId": "v2"}]})
    cfn = FakeCloudFormation()
    monkeypatch.setattr(stack.aws, "client", lambda name: {"s3": s3, "cloudformation": cfn}[name])
    return s3, cfn


def test_destroy_refuses_while_a_bucket_holds_data(fake_cloud):
    s3, cfn = fake_cloud
    with pytest.raises(DeployError, match="--force"):
        stack.destroy(Target("dev", "us-east-1", "1"), lambda line: None)
    assert cfn.exists and s3.deleted == []


def test_destroy_with_force_empties_every_version_then_deletes(fake_cloud):
    s3, cfn = fake_cloud
    lines: list[str] = []
    stack.destroy(Target("dev", "us-east-1", "1"), lines.append, force=True)
    assert s3.deleted == [("in", 2)]
    assert not cfn.exists
    assert lines[-1] == "stack pipeline-dev deleted"


# ------------------------------------------------------------------ the deployer's policy


def test_deployer_policy_fits_a_managed_policy_and_covers_every_resource_type(template):
    policy = json.loads((REPO / "docs" / "deployer-policy.json").read_text(encoding="utf-8"))
    assert len(json.dumps(policy, separators=(",", ":"))) <= 6144  # the managed policy size limit
    actions = {a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    prefixes = {a.split(":")[0] for a in actions}
    service = {"Logs": "logs", "StepFunctions": "states", "CloudWatch": "cloudwatch", "KMS": "kms"}
    for resource in template["Resources"].values():
        name = resource["Type"].split("::")[1]
        assert service.get(name, name.lower()) in prefixes, resource["Type"]
    for needed in ("cloudformation:CreateChangeSet", "s3:PutObject", "iam:PassRole", "lambda:PublishLayerVersion"):
        assert needed in actions
    assert "lambda:GetLayerVersion" in actions and "athena:StartQueryExecution" in actions


def test_destroy_skips_a_bucket_removed_by_hand(fake_cloud, monkeypatch):
    from botocore.exceptions import ClientError

    s3, cfn = fake_cloud

    def gone(Bucket: str, MaxKeys: int = 1000) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "ListObjectVersions")

    monkeypatch.setattr(s3, "list_object_versions", gone)
    stack.destroy(Target("dev", "us-east-1", "1"), lambda line: None)
    assert not cfn.exists
