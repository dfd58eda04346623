"""`query_df` decodes the encoded text of text datasets only: a Parquet dataset's text is stored exactly."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import orders_document

from pipeline.runtime.contract.loader import load_contract
from pipeline.tools.query.frames import text_columns


def test_only_the_string_columns_of_text_datasets_are_decoded(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "orders.schema.json").write_text(json.dumps(orders_document()))
    parquet = {**orders_document(), "x-format": "parquet", "properties": {"order_id": {"type": "string"}, "memo": {
        "type": ["string", "null"]}}, "required": ["order_id"]}  # fmt: skip
    parquet.pop("x-partition")
    (tmp_path / "notes.schema.json").write_text(json.dumps(parquet))
    monkeypatch.setenv("PIPELINE_SCHEMAS_DIR", str(tmp_path))
    load_contract.cache_clear()
    assert text_columns(["orders"]) == {"order_id", "status", "currency", "note"}
    assert text_columns(["notes"]) == set()
    assert text_columns(["orders", "notes"]) == {"order_id", "status", "currency", "note"}
