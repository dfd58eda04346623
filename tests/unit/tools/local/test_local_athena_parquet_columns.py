"""The local cloud's Athena reads a Parquet table by the Glue table's columns (adapt/athena_parquet_columns.py)."""

from __future__ import annotations

import inspect

import duckdb
import pyarrow as pa
import pytest
from ministack.services import athena

from pipeline.runtime.contract.loader import parse_contract
from pipeline.runtime.sinks import parquet_format
from pipeline.tools.deploy.datasets import glue_table
from pipeline.tools.local.adapt.athena_parquet_columns import patch_athena, with_table_columns


def _contract(extra: dict | None = None):
    properties = {"id": {"type": "string"}, "n": {"type": ["integer", "null"]}, **(extra or {})}
    return parse_contract(
        "things",
        {
            "type": "object",
            "properties": properties,
            "required": ["id"],
            "x-primary-key": ["id"],
            "x-format": "parquet",
        },
    )


OLD = _contract()
NEW = _contract({"channel": {"type": ["string", "null"]}})  # a nullable column appended: a safe change


def _query(tmp_path, relation_of, sql: str = "SELECT * FROM t ORDER BY id") -> list[tuple]:
    folder = tmp_path / "dt=2024-01-01"
    folder.mkdir(exist_ok=True)
    path = folder / "part-j-000001.parquet"
    table = pa.table({"id": ["a", "b"], "n": pa.array([1, None], pa.int64())})
    path.write_bytes(parquet_format.file_bytes(table, OLD))
    table_data = glue_table(NEW)["Properties"]["TableInput"]
    table_data["PartitionKeys"] = [{"Name": "dt", "Type": "string"}]
    connection = duckdb.connect()
    connection.execute("SET disabled_optimizers = 'type_pushdown'")  # as MiniStack runs it
    return connection.execute(sql.replace("FROM t", f"FROM {relation_of(table_data, [str(path)])} AS t")).fetchall()


def test_ministack_alone_fails_on_a_column_its_files_do_not_have_yet(tmp_path):
    original = inspect.unwrap(athena._table_relation)
    with pytest.raises(duckdb.BinderException, match="channel"):
        _query(tmp_path, original, "SELECT channel FROM t")


def test_with_the_patch_the_table_columns_read_in_order_and_an_absent_one_null(tmp_path):
    patch_athena()
    patch_athena()  # idempotent
    assert _query(tmp_path, athena._table_relation) == [("a", 1, None, "2024-01-01"), ("b", None, None, "2024-01-01")]
    assert _query(tmp_path, athena._table_relation, "SELECT channel FROM t") == [(None,), (None,)]


def test_both_relation_adaptations_install_once_in_any_order():
    from pipeline.tools.local.adapt import athena_null_format

    for _ in range(2):
        athena_null_format.patch_athena()
        patch_athena()
    layers, function = [], athena._table_relation
    while hasattr(function, "__wrapped__"):
        layers.append(function)
        function = function.__wrapped__
    assert len(layers) == 2 and function is inspect.unwrap(athena._table_relation)


def test_the_patch_leaves_text_tables_and_other_relations_alone():
    text = glue_table(parse_contract("t", {**OLD.raw, "x-format": "text"}))
    table_data = text["Properties"]["TableInput"]
    assert with_table_columns("read_csv(x)", table_data) == "read_csv(x)"
    parquet = glue_table(OLD)["Properties"]["TableInput"]
    assert with_table_columns("read_json_auto(x)", parquet) == "read_json_auto(x)"
    assert with_table_columns("read_parquet(x)", parquet).startswith('(SELECT CAST("id" AS VARCHAR) AS "id"')
