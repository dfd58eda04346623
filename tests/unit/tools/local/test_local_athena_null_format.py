"""The local cloud's Athena reads `serialization.null.format` as Athena does (adapt/athena_null_format.py)."""

from __future__ import annotations

import inspect

import duckdb
from ministack.services import athena

from pipeline.runtime.contract.loader import parse_contract
from pipeline.runtime.sinks.text_format import render, render_lines
from pipeline.tools.deploy.datasets import glue_table
from pipeline.tools.local.adapt.athena_null_format import patch_athena, with_null_format

CONTRACT = parse_contract(
    "nulls",
    {
        "type": "object",
        "properties": {"id": {"type": "string"}, "s": {"type": ["string", "null"]}, "n": {"type": ["integer", "null"]}},
        "required": ["id"],
        "x-primary-key": ["id"],
        "x-null-values": ["NULL"],
    },
)


def _rows(tmp_path, relation_of) -> list[tuple]:
    import pyarrow as pa

    table = pa.table({"id": ["a", "b", "c"], "s": ["", None, "\\N"], "n": pa.array([1, None, 3], pa.int64())})
    path = tmp_path / "part.tsv"
    path.write_bytes(render(render_lines(table, CONTRACT)))
    table_data = glue_table(CONTRACT)["Properties"]["TableInput"]
    connection = duckdb.connect()
    connection.execute("SET disabled_optimizers = 'type_pushdown'")  # as MiniStack runs it
    return connection.execute(f"SELECT * FROM {relation_of(table_data, [str(path)])} ORDER BY id").fetchall()


def test_ministack_alone_reads_empty_text_as_null_and_the_null_format_as_text(tmp_path):
    original = inspect.unwrap(athena._table_relation)  # MiniStack's own, under every adaptation's wrapper
    assert _rows(tmp_path, original) == [("a", None, 1), ("b", "\\N", None), ("c", "\\\\N", 3)]


def test_with_the_patch_empty_text_null_and_a_stored_backslash_n_are_three_values(tmp_path):
    patch_athena()
    patch_athena()  # idempotent
    assert _rows(tmp_path, athena._table_relation) == [("a", "", 1), ("b", None, None), ("c", "\\\\N", 3)]


def test_the_patch_leaves_other_serdes_and_unknown_relations_alone():
    table = {"StorageDescriptor": {"SerdeInfo": {"SerializationLibrary": "OpenCSVSerde", "Parameters": {}}}}
    assert with_null_format("read_csv(x, null_padding = true)", table) == "read_csv(x, null_padding = true)"
    lazy = {"StorageDescriptor": {"SerdeInfo": {"SerializationLibrary": "LazySimpleSerDe", "Parameters": {}}}}
    assert with_null_format("read_parquet(x)", lazy) == "read_parquet(x)"
    assert "nullstr = '\\N'" in with_null_format("read_csv(x, null_padding = true)", lazy)  # Hive's default
