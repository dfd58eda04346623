"""Strict contracts (issue 15): a keyword the pipeline does not implement is an error, never silently ignored."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from typing import Any

import pytest
from conftest import orders_document

from pipeline.runtime.contract import ContractError
from pipeline.runtime.contract.loader import parse_contract
from pipeline.runtime.contract.strict import column_name_proposal, keyword_problems
from pipeline.tools.deploy import package
from pipeline.tools.schema.metaschema import check_document, load_checked_contracts


def _refused(document: dict[str, Any]) -> str:
    with pytest.raises(ContractError) as caught:
        check_document("orders", document)
    return str(caught.value)


# ------------------------------------------------------------------ the typos of the issue


@pytest.mark.parametrize(
    ("where", "keyword", "value", "expected"),
    [
        (
            (),
            "x-partiton",
            {"column": "order_ts"},
            r"\$\.x-partiton: unknown keyword 'x-partiton'; did you mean x-partition\?",
        ),
        ((), "x-dynamo", False, r"\$\.x-dynamo: unknown keyword 'x-dynamo'; did you mean x-dynamodb\?"),
        ((), "x-primary-keys", ["order_id"], r"did you mean x-primary-key\?"),
        ((), "x-null-value", ["-"], r"did you mean x-null-values\?"),
        ((), "requierd", ["order_id"], r"\$\.requierd: unknown keyword 'requierd'; did you mean required\?"),
        (
            ("properties", "note"),
            "minLenght",
            2,
            r"\$\.properties\.note\.minLenght: unknown keyword 'minLenght'; did you mean minLength\?",
        ),
        (("properties", "note"), "maxlength", 9, r"did you mean maxLength\?"),
        (("properties", "amount"), "maximun", 9, r"did you mean maximum\?"),
        (
            ("properties", "status"),
            "const",
            "NEW",
            r"\$\.properties\.status\.const: keyword 'const' is JSON Schema but the pipeline does not implement it, "
            r"so it is refused; the nearest supported keyword is enum",
        ),
        (
            ("properties", "status"),
            "oneOf",
            [{"type": "string"}],
            r"'oneOf' is JSON Schema but the pipeline does not implement it.*nearest supported keyword is type",
        ),
        (
            ("properties", "amount"),
            "multipleOf",
            0.01,
            r"\$\.properties\.amount\.multipleOf: keyword 'multipleOf' is JSON Schema but the pipeline does not "
            r"implement it",
        ),
        (("properties", "note"), "default", "none", r"'default' is JSON Schema but the pipeline does not implement it"),
        (
            ("x-partition",),
            "granularty",
            "day",
            r"\$\.x-partition\.granularty: unknown keyword 'granularty'; did you mean granularity\?",
        ),
        (
            (),
            "allOf",
            [],
            r"\$\.allOf: keyword 'allOf' is JSON Schema but the pipeline does not implement it, so it is refused",
        ),
    ],
)
def test_a_keyword_we_do_not_implement_is_refused_with_its_path_and_the_nearest_one(where, keyword, value, expected):
    document = orders_document()
    node = document
    for part in where:
        node = node[part]
    node[keyword] = value
    for load in (parse_contract, check_document):
        with pytest.raises(ContractError, match=expected):
            load("orders", document)


def test_every_problem_of_a_contract_is_listed_at_once():
    document = orders_document()
    document["x-partiton"] = document.pop("x-partition")
    document["properties"]["note"]["minLenght"] = 1
    document["properties"]["status"]["const"] = "NEW"
    message = _refused(document)
    assert message.count("$.") == 3, message
    assert [p.keyword for p in keyword_problems(document)] == ["x-partiton", "const", "minLenght"]


def test_a_keyword_with_the_wrong_json_type_is_named():
    document = orders_document()
    document["x-dynamodb"] = "no"
    document["properties"]["note"]["maxLength"] = "2000"
    message = _refused(document)
    assert "$.x-dynamodb: 'x-dynamodb' must be true or false, got a string" in message
    assert "$.properties.note.maxLength: 'maxLength' must be an integer, got a string" in message


def test_annotations_are_accepted_and_change_nothing():
    document = orders_document()
    document["$comment"] = "reviewed"
    document["properties"]["note"] |= {"title": "Note", "description": "free text", "examples": ["gift wrap"]}
    assert check_document("orders", document).column("note") == check_document("orders", orders_document()).column(
        "note"
    )


# ------------------------------------------------------------------ the metaschema, and the rules it cannot see


def test_the_json_schema_metaschema_is_checked_by_jsonschema():
    document = orders_document()
    document["properties"]["note"]["maxLength"] = -1
    assert "$.properties.note.maxLength: not valid JSON Schema 2020-12: -1 is less than the minimum of 0" in _refused(
        document
    )
    document = orders_document()
    document["required"].append("order_id")
    assert "$.required: not valid JSON Schema 2020-12:" in _refused(document)
    assert "has non-unique elements" in _refused(document)


def test_a_schema_of_another_draft_is_refused():
    document = orders_document()
    document["$schema"] = "http://json-schema.org/draft-07/schema#"
    assert "'$schema' must be 'https://json-schema.org/draft/2020-12/schema'" in _refused(document)


@pytest.mark.parametrize(
    ("column", "rule", "value", "expected"),
    [
        (
            "customer_id",
            "pattern",
            "^[0-9]+$",
            "pattern applies to string columns without a format only, not to integer columns",
        ),
        (
            "order_ts",
            "maxLength",
            30,
            "maxLength applies to string columns without a format only, not to timestamp columns",
        ),
        ("note", "minimum", 1, "minimum applies to integer and number columns only, not to string columns"),
        (
            "order_ts",
            "enum",
            ["2024-01-01T00:00:00Z"],
            "'enum' applies to string, integer, number and boolean columns only",
        ),
        ("quantity", "enum", ["1", "2"], "'enum' must list integer values"),
        ("is_gift", "enum", [1], "'enum' must list boolean values"),
    ],
)
def test_a_rule_the_validator_would_never_apply_to_the_column_is_refused(column, rule, value, expected):
    document = orders_document()
    document["properties"][column][rule] = value
    assert expected in _refused(document)


@pytest.mark.parametrize(
    ("name", "proposal"),
    [("Order ID", "order_id"), ("Culmen Length (mm)", "culmen_length_mm"), ("lifeExp", "life_exp"),
     ("1960", "c_1960"), ("Sepal.Length", "sepal_length"), ("ÄÖ", "column")],
)  # fmt: skip
def test_a_column_name_athena_cannot_take_is_refused_with_a_proposal(name, proposal):
    assert column_name_proposal(name) == proposal
    document = {"type": "object", "properties": {name: {"type": "string"}}, "required": [name], "x-primary-key": [name]}
    assert f"column {name!r} is not a valid Athena/Glue column name" in _refused(document)
    assert f"did you mean {proposal}?" in _refused(document)


# ------------------------------------------------------------------ where the checks run


def test_packaging_refuses_a_broken_contract_naming_the_keyword(tmp_path, monkeypatch):
    document = orders_document()
    document["x-partiton"] = document.pop("x-partition")
    (tmp_path / "orders.schema.json").write_text(json.dumps(document), encoding="utf-8")
    monkeypatch.setenv("PIPELINE_SCHEMAS_DIR", str(tmp_path))
    with pytest.raises(ContractError, match="did you mean x-partition"):
        package.build()
    document = orders_document()
    document["properties"]["note"]["maxLength"] = -1
    (tmp_path / "orders.schema.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ContractError, match="not valid JSON Schema 2020-12"):
        package.build()


def test_the_shipped_schemas_pass_every_check():
    assert load_checked_contracts(package.ROOT / "schemas")


def test_the_lambda_bundle_checks_keywords_without_importing_jsonschema(tmp_path):
    """In a Lambda the bundled, packager-checked contract is trusted: jsonschema is neither bundled nor imported."""
    code = zipfile.ZipFile(io.BytesIO(package.build_code_zip()))
    assert not [n for n in code.namelist() if n.startswith("pipeline/tools/schema/") or "jsonschema" in n]
    code.extractall(tmp_path)
    bad = orders_document()
    bad["x-dynamo"] = False
    (tmp_path / "pipeline" / "runtime" / "_schemas" / "typo.schema.json").write_text(json.dumps(bad), encoding="utf-8")
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import pipeline.runtime.contract as c\n"
        "print(c.load_contract('orders').dataset)\n"
        "try:\n    c.load_contract('typo')\nexcept c.ContractError as e:\n    print(e)\n"
        "print('jsonschema' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_SCHEMAS_DIR"}
    out = subprocess.run(
        [sys.executable, "-I", "-c", script, str(tmp_path)], capture_output=True, text=True, env=env, cwd=tmp_path,
        timeout=120, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert out[0] == "orders"
    assert "did you mean x-dynamodb?" in out[1]
    assert out[2] == "False"
