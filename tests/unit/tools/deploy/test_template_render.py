"""`Pipeline::Function` and `Pipeline::Alarm` rendered at package time (docs/adr/0008-*): every function keeps a role
of its own, nothing of the source's custom types reaches CloudFormation, and `pipeline package --template-out`
writes exactly what a deploy sends."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import REPO

from pipeline.tools.cli.ship import package_command
from pipeline.tools.deploy import package
from pipeline.tools.deploy.cfn_yaml import load_template
from pipeline.tools.deploy.functions import ALARM_TYPE, FUNCTION_TYPE, TemplateError, expand

FUNCTIONS = (
    "UploadFunction", "InventoryFunction", "PagerFunction", "PageWorkerFunction", "JobStepsFunction", "CompactFunction"
)  # fmt: skip


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_template(REPO / "cloudformation" / "template.yaml")


@pytest.fixture(scope="module")
def rendered(source) -> dict[str, Any]:
    return expand(source)


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_the_source_declares_each_function_once_and_the_render_leaves_no_custom_type(source, rendered):
    assert sorted(_of_type(source, FUNCTION_TYPE)) == sorted(FUNCTIONS)
    assert not [k for k, r in rendered["Resources"].items() if r["Type"].startswith("Pipeline::")]
    assert sorted(_of_type(rendered, "AWS::Lambda::Function")) == sorted(FUNCTIONS)
    for function in FUNCTIONS:
        prefix = function.removesuffix("Function")
        assert rendered["Resources"][f"{prefix}Role"]["Type"] == "AWS::IAM::Role"
        assert rendered["Resources"][f"{prefix}LogGroup"]["Type"] == "AWS::Logs::LogGroup"
        assert rendered["Outputs"][function] == {"Value": {"Ref": function}}
        for metric in ("Errors", "Throttles"):
            alarm = rendered["Resources"][f"{prefix}{metric}Alarm"]["Properties"]
            assert alarm["MetricName"] == metric
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    assert source["Resources"]["UploadFunction"]["Type"] == FUNCTION_TYPE  # the source is not modified


def test_every_function_has_a_role_of_its_own_with_only_its_statements(source, rendered):
    """Least privilege per function: the role holds the entry's statements plus its own log group and X-Ray."""
    roles = {}
    for function in FUNCTIONS:
        props = rendered["Resources"][function]
        role = props["Properties"]["Role"]["Fn::GetAtt"][0]
        roles[function] = role
        (policy,) = rendered["Resources"][role]["Properties"]["Policies"]
        statements = policy["PolicyDocument"]["Statement"]
        own = source["Resources"][function]["Properties"]["Statements"]
        assert statements[: len(own)] == own, function
        logs, tracing = statements[len(own) :]
        assert logs["Resource"] == {"Fn::GetAtt": [props["DependsOn"], "Arn"]}, function
        assert (tracing["Sid"], tracing["Resource"]) == ("Tracing", "*"), function
        assert props["DependsOn"] == function.removesuffix("Function") + "LogGroup"
    assert len(set(roles.values())) == len(FUNCTIONS)  # no shared role
    page_worker = rendered["Resources"]["PageWorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert "states:StartExecution" not in json.dumps(page_worker)  # the upload function's right stays its own


def test_every_function_and_log_group_keeps_its_checkov_reasons(source, rendered):
    for function in FUNCTIONS:
        skips = [s["id"] for s in rendered["Resources"][function]["Metadata"]["checkov"]["skip"]]
        assert skips == ["CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173"], function
        log_group = rendered["Resources"][function.removesuffix("Function") + "LogGroup"]
        assert [s["id"] for s in log_group["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_158", "CKV_AWS_66"]
        assert all(s["comment"] for s in rendered["Resources"][function]["Metadata"]["checkov"]["skip"])


def test_physical_names_follow_the_entry_name(rendered):
    props = rendered["Resources"]["PageWorkerFunction"]["Properties"]
    assert props["FunctionName"] == {"Fn::Sub": "${AWS::StackName}-page-worker"}
    assert props["Handler"] == "handlers.page_worker.handler"  # handler files are renamed elsewhere
    log_group = rendered["Resources"]["PageWorkerLogGroup"]["Properties"]["LogGroupName"]
    assert log_group == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-page-worker"}
    alarm = rendered["Resources"]["UploadErrorsAlarm"]["Properties"]
    assert alarm["AlarmName"] == {"Fn::Sub": "${AWS::StackName}-upload-errors"}


def test_alarm_entries_get_the_stack_wide_settings(source, rendered):
    assert len(_of_type(source, ALARM_TYPE)) == 7
    alarms = _of_type(rendered, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 7 + 2 * len(FUNCTIONS)
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        assert (props["Period"], props["EvaluationPeriods"], props["ComparisonOperator"]) == (
            300, 1, "GreaterThanThreshold"), logical_id  # fmt: skip
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
    oldest = alarms["OldestPageAlarm"]["Properties"]
    assert oldest["Threshold"] == {"Ref": "OldestPageAlarmSeconds"}
    assert oldest["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["PagesQueue", "QueueName"]}}]
    assert alarms["PagesDeadLetterAlarm"]["Properties"]["Threshold"] == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e["Properties"].pop("Handler"), r"UploadFunction \(Pipeline::Function\): missing Handler"),
        (lambda e: e["Properties"].update(Memory=1), r"unknown Memory"),
        (lambda e: e["Properties"]["Environment"].update(PIPELINE_STAGE="x"), r"Environment sets PIPELINE_STAGE"),
        (lambda e: e.update(DependsOn="X"), r"unknown DependsOn"),
    ],
)
def test_a_malformed_entry_is_refused_with_its_name(source, change, message):
    broken = copy.deepcopy(source)
    change(broken["Resources"]["UploadFunction"])
    with pytest.raises(TemplateError, match=message):
        expand(broken)


def test_an_entry_that_would_overwrite_a_resource_is_refused(source):
    broken = copy.deepcopy(source)
    broken["Resources"]["UploadRole"] = {"Type": "AWS::IAM::Role", "Properties": {}}
    with pytest.raises(TemplateError, match="UploadFunction renders UploadRole, which the template already has"):
        expand(broken)


def test_template_out_writes_what_a_deploy_sends(tmp_path):
    out = tmp_path / "packaged.json"
    result = CliRunner().invoke(package_command, ["--template-out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == package.template_body(package.build().template)
    assert not [r for r in json.loads(out.read_bytes())["Resources"].values() if r["Type"].startswith("Pipeline::")]
