"""Deployment artefacts: a reproducible Lambda zip, CloudFormation YAML with short tags, Glue tables.

Every test runs twice: with the shipped schemas, and with a second dataset added the way the README says (a schema
file in the schemas folder, here a temporary one named by `PIPELINE_SCHEMAS_DIR`): adding a dataset breaks nothing.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, make_contract, schemas_with_a_second_dataset

from pipeline.runtime.contract import load_contracts
from pipeline.runtime.contract.loader import parse_contract, source_schemas_dir
from pipeline.runtime.sinks.text_format import INPUT_FORMAT, OUTPUT_FORMAT, SERDE, SERDE_PARAMETERS
from pipeline.tools.deploy.cfn_yaml import load_template
from pipeline.tools.deploy.datasets import add_dataset_tables, glue_table, logical_id
from pipeline.tools.deploy.package import FIXED_TIME, ROOT, build_code_zip, schemas_of

TEMPLATE = REPO / "cloudformation" / "template.yaml"


@pytest.fixture(scope="module", autouse=True, params=["shipped", "second-dataset"])
def schemas(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The schemas folder of the build: the repository's, or a copy with one more dataset."""
    if request.param == "shipped":
        yield REPO / "schemas"
        return
    folder = schemas_with_a_second_dataset(tmp_path_factory.mktemp("schemas"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_SCHEMAS_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module")
def code_zip(schemas) -> bytes:
    assert source_schemas_dir() == schemas
    return build_code_zip()


@pytest.fixture(scope="module")
def zip_names(code_zip) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(code_zip)).namelist()


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(TEMPLATE)


# ------------------------------------------------------------------ code zip


def test_code_zip_is_byte_for_byte_reproducible(code_zip):
    assert build_code_zip() == code_zip


def test_code_zip_holds_handlers_the_runtime_and_schemas(zip_names, schemas):
    names = set(zip_names)
    for path in sorted((REPO / "handlers").glob("*.py")):
        assert f"handlers/{path.name}" in names
    for path in sorted((REPO / "pipeline" / "runtime" / "rows").glob("*.py")):
        assert f"pipeline/runtime/rows/{path.name}" in names
    folder = "pipeline/runtime/_schemas/"
    bundled = {n.removeprefix(folder) for n in names if n.startswith(folder)}
    assert bundled == {p.name for p in schemas.glob("*.schema.json")} and bundled
    assert {n.split("/")[0] for n in names} == {"handlers", "pipeline"}
    assert all(n.startswith("pipeline/runtime/") for n in names if n.startswith("pipeline/"))


def test_code_zip_leaves_out_cli_local_and_build_time_modules(zip_names):
    for name in zip_names:
        parts = name.split("/")
        assert not {"cli", "local", "deploy", "sample", "__pycache__"} & set(parts[:-1]), name
        assert not name.endswith(".pyc")


def test_code_zip_entries_have_fixed_times_and_sorted_order(code_zip, zip_names):
    archive = zipfile.ZipFile(io.BytesIO(code_zip))
    assert {info.date_time for info in archive.infolist()} == {FIXED_TIME}
    assert archive.testzip() is None
    assert len(zip_names) == len(set(zip_names))


def test_bundled_schemas_are_the_source_schemas(code_zip, schemas):
    archive = zipfile.ZipFile(io.BytesIO(code_zip))
    for path in schemas.glob("*.schema.json"):
        assert archive.read(f"pipeline/runtime/_schemas/{path.name}") == path.read_bytes()


def test_bundled_modules_only_import_bundled_pipeline_modules(code_zip, zip_names):
    """A handler importing pipeline.tools.cli (left out of the zip) would fail at Lambda cold start."""
    archive = zipfile.ZipFile(io.BytesIO(code_zip))
    sources = [n for n in zip_names if n.endswith(".py")]
    modules = {n.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for n in sources}
    missing = []
    for name in zip_names:
        if not name.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(archive.read(name))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                # `from pipeline.x import name` is fine when `name` is an attribute of a bundled module
                ours = target.split(".")[0] in ("pipeline", "handlers")
                if ours and target not in modules and target.rsplit(".", 1)[0] not in modules:
                    missing.append(f"{name}: {target}")
    assert missing == []


def test_extracted_bundle_finds_its_bundled_schemas(code_zip, schemas, tmp_path):
    """The bundled copy wins even where `PIPELINE_SCHEMAS_DIR` leaks into a worker (local workers inherit it)."""
    zipfile.ZipFile(io.BytesIO(code_zip)).extractall(tmp_path)
    contracts = load_contracts(schemas)
    env = {**os.environ, "PIPELINE_SCHEMAS_DIR": str(tmp_path / "elsewhere"), "PYTHONPATH": str(tmp_path)}
    script = (
        "import pipeline.runtime.contract as c, sys;print(c.schemas_dir())\n"
        "for name in sys.argv[1:]: print(c.load_contract(name).primary_key)"
    )
    command = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n{script}", *contracts]
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=True).stdout
    folder, *keys = out.splitlines()
    assert Path(folder) == tmp_path / "pipeline" / "runtime" / "_schemas"
    assert keys == [str(c.primary_key) for c in contracts.values()]


def test_a_schemas_folder_override_is_what_the_build_bundles_and_makes_tables_of(tmp_path, monkeypatch):
    document = json.loads((REPO / "schemas" / "orders.schema.json").read_text())
    (tmp_path / "extra_things.schema.json").write_text(json.dumps(document))
    monkeypatch.setenv("PIPELINE_SCHEMAS_DIR", str(tmp_path))
    names = zipfile.ZipFile(io.BytesIO(build_code_zip())).namelist()
    assert "pipeline/runtime/_schemas/extra_things.schema.json" in names
    assert "pipeline/runtime/_schemas/orders.schema.json" not in names
    assert schemas_of(ROOT) == tmp_path
    monkeypatch.delenv("PIPELINE_SCHEMAS_DIR")
    assert schemas_of(ROOT) == REPO / "schemas"


# ------------------------------------------------------------------ CloudFormation YAML


def test_template_loads_as_plain_json_data(template):
    json.dumps(template)  # no YAML tag objects left anywhere
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert "Resources" in template


def test_short_form_tags_become_long_form(template):
    assert template["Conditions"]["HasPandasLayer"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "PandasLayerArn"}, ""]}]}
    assert template["Resources"]["IngestBucket"]["Properties"]["BucketName"] == {
        "Fn::Sub": "${AWS::StackName}-ingest-${AWS::AccountId}-${AWS::Region}"
    }


def test_short_form_get_att_is_split_into_resource_and_attribute(template):
    found = []

    def walk(node):
        if isinstance(node, dict):
            if "Fn::GetAtt" in node:
                found.append(node["Fn::GetAtt"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(template)
    assert ["IngestBucket", "Arn"] in found
    for value in found:
        assert isinstance(value, list) and len(value) == 2, value


def test_cfn_loader_handles_each_node_shape(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "A: !Ref Thing\n"
        "B: !GetAtt Res.Attr.Nested\n"
        "C: !GetAtt [Res, Attr]\n"
        "D: !Sub ['${x}-y', {x: !Ref Z}]\n"
        "E: !Join ['', [a, !Ref B]]\n"
        "F: !If [Cond, 1, !Ref AWS::NoValue]\n"
        "G: !Base64 {'Fn::Sub': text}\n",
        encoding="utf-8",
    )
    assert load_template(path) == {
        "A": {"Ref": "Thing"},
        "B": {"Fn::GetAtt": ["Res", "Attr.Nested"]},
        "C": {"Fn::GetAtt": ["Res", "Attr"]},
        "D": {"Fn::Sub": ["${x}-y", {"x": {"Ref": "Z"}}]},
        "E": {"Fn::Join": ["", ["a", {"Ref": "B"}]]},
        "F": {"Fn::If": ["Cond", 1, {"Ref": "AWS::NoValue"}]},
        "G": {"Fn::Base64": {"Fn::Sub": "text"}},
    }


def test_state_machine_substitutions_cover_every_placeholder(template):
    definition = (REPO / "statemachines" / "batch.asl.json").read_text(encoding="utf-8")
    machines = [r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert machines
    substitutions = set()
    for machine in machines:
        substitutions |= set(machine["Properties"].get("DefinitionSubstitutions", {}))
    placeholders = set(re.findall(r"\$\{(\w+)\}", definition))
    assert placeholders <= substitutions


# ------------------------------------------------------------------ Glue tables per dataset


def test_packaged_template_gets_a_glue_table_per_contract(template, schemas):
    contracts = load_contracts(schemas)
    rendered = add_dataset_tables(template, contracts)
    for contract in contracts.values():
        assert logical_id(contract) not in template["Resources"]  # the source template is not modified
        table = rendered["Resources"][logical_id(contract)]
        assert table["Type"] == "AWS::Glue::Table"
        assert table["Properties"]["TableInput"]["Name"] == contract.table_name
    assert rendered["Outputs"]["DatasetTables"] == {"Value": ",".join(c.table_name for c in contracts.values())}
    added = [r for r in rendered["Resources"] if r not in template["Resources"]]
    assert sorted(added) == sorted(logical_id(c) for c in contracts.values())


def test_the_build_bundles_and_renders_every_dataset_of_the_schemas_folder(schemas):
    from pipeline.tools.deploy import package

    artefacts = package.build()
    names = zipfile.ZipFile(io.BytesIO(artefacts.code_zip)).namelist()
    for contract in load_contracts(schemas).values():
        assert f"pipeline/runtime/_schemas/{contract.dataset}.schema.json" in names
        assert artefacts.template["Resources"][logical_id(contract)]["Type"] == "AWS::Glue::Table"


def test_glue_table_uses_lazy_simple_serde_with_the_writer_parameters(orders_contract):
    storage = glue_table(orders_contract)["Properties"]["TableInput"]["StorageDescriptor"]
    assert storage["SerdeInfo"] == {  # no escape character: Hive and Trino unescape differently (ADR 4)
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
        "Parameters": {
            "field.delim": "\t",
            "serialization.format": "\t",
            "serialization.null.format": "\\N",
        },
    }
    assert storage["SerdeInfo"]["SerializationLibrary"] == SERDE
    assert storage["SerdeInfo"]["Parameters"] == SERDE_PARAMETERS
    assert storage["InputFormat"] == INPUT_FORMAT == "org.apache.hadoop.mapred.TextInputFormat"
    assert storage["OutputFormat"] == OUTPUT_FORMAT


def test_glue_table_of_a_parquet_dataset_uses_parquet_hive_serde_and_the_same_columns(orders_contract):
    contract = make_contract({"n": {"type": ["integer", "null"]}}, **{"x-format": "parquet"})
    table_input = glue_table(contract)["Properties"]["TableInput"]
    storage = table_input["StorageDescriptor"]
    assert storage["SerdeInfo"] == {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    }
    assert storage["InputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert storage["OutputFormat"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    assert storage["Columns"] == [{"Name": "id", "Type": "string"}, {"Name": "n", "Type": "bigint"}]
    assert table_input["Parameters"]["classification"] == "parquet"
    text = glue_table(orders_contract)["Properties"]["TableInput"]
    assert text["Parameters"]["classification"] == "csv"
    parquet_orders = parse_contract("orders", {**orders_contract.raw, "x-format": "parquet"})
    parquet_input = glue_table(parquet_orders)["Properties"]["TableInput"]
    assert parquet_input["PartitionKeys"] == text["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    assert parquet_input["StorageDescriptor"]["Columns"] == text["StorageDescriptor"]["Columns"]


def test_glue_table_columns_partition_and_location(orders_contract, template):
    table_input = glue_table(orders_contract)["Properties"]["TableInput"]
    assert table_input["Name"] == "orders"
    assert table_input["TableType"] == "EXTERNAL_TABLE"
    assert table_input["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]
    columns = table_input["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == orders_contract.column_names
    assert {c["Name"]: c["Type"] for c in columns}["order_ts"] == "timestamp"
    assert {c["Name"]: c["Type"] for c in columns}["customer_id"] == "bigint"
    assert table_input["StorageDescriptor"]["Location"] == {"Fn::Sub": "s3://${ResultsBucket}/orders/"}
    properties = glue_table(orders_contract)["Properties"]
    assert properties["DatabaseName"] == {"Ref": "GlueDatabase"}
    assert "GlueDatabase" in template["Resources"]
    assert "ResultsBucket" in template["Resources"]


def test_glue_table_of_an_unpartitioned_hyphenated_dataset():
    contract = make_contract({}, dataset="order-lines")
    assert logical_id(contract) == "DatasetTableOrderLines"
    table_input = glue_table(contract)["Properties"]["TableInput"]
    assert table_input["Name"] == "order_lines"
    assert table_input["PartitionKeys"] == []
    assert table_input["StorageDescriptor"]["Location"] == {"Fn::Sub": "s3://${ResultsBucket}/order-lines/"}
