"""Contract evolution: each change kind is classified safe, stricter or unsafe; deploy refuses what is not allowed."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from typing import Any

import pytest
from conftest import orders_document

from pipeline.runtime.contract.loader import parse_contract
from pipeline.tools.deploy.package import build_code_zip
from pipeline.tools.schema.diff import Level, compare, compare_all
from pipeline.tools.schema.evolve import Evolution, EvolutionRefused, contracts_in_zip, judge

OLD = orders_document()


def _diff(change) -> tuple[Level, list[tuple[str | None, str, str]]]:
    new = copy.deepcopy(OLD)
    change(new)
    result = compare(parse_contract("orders", OLD), parse_contract("orders", new))
    return result.level, [(c.column, c.what, str(c.level)) for c in result.changes]


def _props(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["properties"]


def _append(doc, name, spec, required=False):
    _props(doc)[name] = spec
    if required:
        doc["required"].append(name)


def _rename(doc):
    doc["properties"] = {("gift" if k == "is_gift" else k): v for k, v in _props(doc).items()}


def _reorder(doc):
    items = list(_props(doc).items())
    doc["properties"] = dict(items[:-2] + items[-2:][::-1])


def _insert(doc):
    items = list(_props(doc).items())
    doc["properties"] = dict([*items[:2], ("x", {"type": ["string", "null"]}), *items[2:]])


CASES = [
    ("append a nullable column", lambda d: _append(d, "channel", {"type": ["string", "null"]}),
     Level.SAFE, [("channel", "append", "safe")]),
    ("widen integer to number", lambda d: _props(d)["quantity"].update(type="number"),
     Level.SAFE, [("quantity", "widen type", "safe")]),
    ("add an enum value", lambda d: _props(d)["currency"]["enum"].append("CHF"),
     Level.SAFE, [("currency", "add enum values", "safe")]),
    ("relax a maximum", lambda d: _props(d)["amount"].update(maximum=2_000_000),
     Level.SAFE, [("amount", "relax maximum", "safe")]),
    ("relax a maxLength", lambda d: _props(d)["note"].update(maxLength=5000),
     Level.SAFE, [("note", "relax maxLength", "safe")]),
    ("allow nulls", lambda d: _props(d)["quantity"].update(type=["integer", "null"]),
     Level.SAFE, [("quantity", "allow nulls", "safe")]),
    ("drop a pattern", lambda d: _props(d)["order_id"].pop("pattern"),
     Level.SAFE, [("order_id", "drop pattern", "safe")]),
    ("a description only", lambda d: d.update(description="new words"),
     Level.SAFE, [(None, "annotations", "safe")]),
    ("tighten a minimum", lambda d: _props(d)["amount"].update(minimum=1),
     Level.STRICTER, [("amount", "tighten minimum", "stricter")]),
    ("remove an enum value", lambda d: _props(d)["currency"]["enum"].remove("GBP"),
     Level.STRICTER, [("currency", "remove enum values", "stricter")]),
    ("forbid nulls", lambda d: _props(d)["note"].update(type="string"),
     Level.STRICTER, [("note", "forbid nulls", "stricter")]),
    ("append a non-null column", lambda d: _append(d, "channel", {"type": "string"}, required=True),
     Level.STRICTER, [("channel", "append", "stricter")]),
    ("change null spellings", lambda d: d.update({"x-null-values": [""]}),
     Level.STRICTER, [(None, "null spellings", "stricter")]),
    ("remove a column", lambda d: _props(d).pop("is_gift"),
     Level.UNSAFE, [("is_gift", "remove", "unsafe")]),
    ("rename a column", _rename,
     Level.UNSAFE, [("is_gift", "rename", "unsafe")]),
    ("reorder columns", _reorder,
     Level.UNSAFE, None),
    ("insert a column in the middle", _insert,
     Level.UNSAFE, [("x", "insert", "unsafe")]),
    ("narrow number to integer", lambda d: _props(d)["amount"].update(type="integer"),
     Level.UNSAFE, [("amount", "change type", "unsafe")]),
    ("retype a date column as text", lambda d: _props(d)["ship_date"].pop("format"),
     Level.UNSAFE, [("ship_date", "change type", "unsafe")]),
    ("change the primary key", lambda d: d.update({"x-primary-key": ["order_id", "customer_id"]}),
     Level.UNSAFE, [(None, "change primary key", "unsafe")]),
    ("change the partition", lambda d: d["x-partition"].update(granularity="month"),
     Level.UNSAFE, [(None, "change partition", "unsafe")]),
    ("text to parquet", lambda d: d.update({"x-format": "parquet"}),
     Level.UNSAFE, [(None, "change format", "unsafe")]),
    ("spell the default format out", lambda d: d.update({"x-format": "text"}),
     Level.SAFE, [(None, "annotations", "safe")]),
]  # fmt: skip


def test_a_parquet_dataset_changes_format_or_widens_integers_only_unsafely():
    """Parquet files hold int64 columns: not every reader widens them to double, as a text line reads."""
    old = {**copy.deepcopy(OLD), "x-format": "parquet"}
    widened = copy.deepcopy(old)
    _props(widened)["quantity"]["type"] = "number"
    result = compare(parse_contract("orders", old), parse_contract("orders", widened))
    assert [(c.column, c.what, str(c.level)) for c in result.changes] == [("quantity", "change type", "unsafe")]
    back = compare(parse_contract("orders", old), parse_contract("orders", {**old, "x-format": "text"}))
    assert back.level is Level.UNSAFE and "x-format parquet -> text" in back.changes[0].detail
    appended = copy.deepcopy(old)
    _append(appended, "channel", {"type": ["string", "null"]})  # read by name: old files read NULL
    assert compare(parse_contract("orders", old), parse_contract("orders", appended)).level is Level.SAFE


@pytest.mark.parametrize(("name", "change", "level", "changes"), CASES, ids=[c[0] for c in CASES])
def test_each_change_kind_is_classified(name, change, level, changes):
    got_level, got = _diff(change)
    assert got_level is level, got
    if changes is not None:
        assert got == changes


def test_an_unchanged_contract_has_no_changes():
    same = compare(parse_contract("orders", OLD), parse_contract("orders", copy.deepcopy(OLD)))
    assert (same.status, same.changes, same.level) == ("unchanged", (), Level.SAFE)


def test_new_and_removed_datasets():
    orders = parse_contract("orders", OLD)
    other = parse_contract("returns", copy.deepcopy(OLD))
    diffs = {d.dataset: d for d in compare_all({"orders": orders}, {"returns": other})}
    assert (diffs["returns"].status, diffs["returns"].level) == ("new", Level.SAFE)
    assert (diffs["orders"].status, diffs["orders"].level) == ("removed", Level.UNSAFE)


def test_deploy_refuses_naming_each_column_and_the_ways_forward():
    old, new = parse_contract("orders", OLD), copy.deepcopy(OLD)
    _props(new).pop("is_gift")
    _props(new)["amount"]["minimum"] = 1
    diff = compare(old, parse_contract("orders", new))
    with pytest.raises(EvolutionRefused) as refused:
        judge([diff], Evolution())
    message = str(refused.value)
    assert "dataset 'orders' has unsafe changes (is_gift: removed" in message
    assert "amount: minimum 0 -> 1" in message
    assert "orders_v2.schema.json" in message and "--archive-output orders" in message
    with pytest.raises(EvolutionRefused):
        judge([diff], Evolution(allow_stricter=frozenset({"orders"})))  # unsafe needs more than --allow-stricter
    assert judge([diff], Evolution(archive_output=frozenset({"orders"}))) == [diff]


def test_stricter_changes_need_their_flag():
    new = copy.deepcopy(OLD)
    _props(new)["amount"]["minimum"] = 1
    diff = compare(parse_contract("orders", OLD), parse_contract("orders", new))
    with pytest.raises(EvolutionRefused, match="--allow-stricter orders"):
        judge([diff], Evolution())
    assert judge([diff], Evolution(allow_stricter=frozenset({"orders"}))) == []


def test_the_deployed_contracts_are_read_back_from_the_code_zip():
    contracts = contracts_in_zip(build_code_zip())
    assert contracts["orders"] == parse_contract("orders", OLD)
    archive = zipfile.ZipFile(io.BytesIO(build_code_zip()))
    assert json.loads(archive.read("pipeline/runtime/_schemas/orders.schema.json")) == OLD


def test_a_stage_deployed_before_strict_contracts_is_compared_as_it_ran():
    """Its bundled contract may carry a typo the pipeline then ignored: read without it, not refused."""
    from pipeline.tools.deploy.package import deterministic_zip

    typo = copy.deepcopy(OLD)
    typo["x-partiton"] = typo.pop("x-partition")  # ran unpartitioned
    typo["properties"]["note"]["minLenght"] = 1
    deployed = contracts_in_zip(
        deterministic_zip([("pipeline/runtime/_schemas/orders.schema.json", json.dumps(typo).encode())])
    )
    assert deployed["orders"].partition is None
    diff = compare(deployed["orders"], parse_contract("orders", OLD))
    assert [(c.what, str(c.level)) for c in diff.changes] == [("change partition", "unsafe")]
