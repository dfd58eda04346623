"""Render one Glue table resource per dataset contract into the packaged template."""

from __future__ import annotations

import re
from typing import Any

from pipeline.runtime.contract import Contract
from pipeline.runtime.sinks import parquet_format, text_format


def logical_id(contract: Contract) -> str:
    """The template logical id of a dataset's table, e.g. `DatasetTableOrders`."""
    words = re.split(r"[^a-zA-Z0-9]+", contract.dataset)
    return "DatasetTable" + "".join(w[:1].upper() + w[1:] for w in words if w)


def storage_format(contract: Contract) -> dict[str, Any]:
    """The table's classification, input/output formats and SerDe for the contract's `x-format`."""
    fmt: Any = parquet_format if contract.output_format == "parquet" else text_format
    return {
        "classification": "parquet" if contract.output_format == "parquet" else "csv",
        "InputFormat": fmt.INPUT_FORMAT,
        "OutputFormat": fmt.OUTPUT_FORMAT,
        "SerdeInfo": {"SerializationLibrary": fmt.SERDE, "Parameters": dict(fmt.SERDE_PARAMETERS)},
    }


def glue_table(contract: Contract) -> dict[str, Any]:
    """An `AWS::Glue::Table` over `s3://<results>/<dataset>/`, partitioned as the contract says, stored as the
    contract's `x-format` says (text: LazySimpleSerDe, ADR 4; parquet: ParquetHiveSerDe)."""
    storage = storage_format(contract)
    partition_keys = [{"Name": contract.partition.name, "Type": "string"}] if contract.partition else []
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "GlueDatabase"},
            "TableInput": {
                "Name": contract.table_name,
                "Description": contract.description or f"Validated rows of dataset {contract.dataset}",
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {
                    "classification": storage["classification"],
                    "has_encrypted_data": "false",
                    "x-primary-key": ",".join(contract.primary_key),
                },
                "PartitionKeys": partition_keys,
                "StorageDescriptor": {
                    "Columns": [{"Name": c.name, "Type": c.glue_type} for c in contract.columns],
                    "Location": {"Fn::Sub": f"s3://${{ResultsBucket}}/{contract.dataset}/"},
                    "InputFormat": storage["InputFormat"],
                    "OutputFormat": storage["OutputFormat"],
                    "SerdeInfo": storage["SerdeInfo"],
                },
            },
        },
    }


def add_dataset_tables(template: dict[str, Any], contracts: dict[str, Contract]) -> dict[str, Any]:
    """A copy of ``template`` with one Glue table per contract and an output naming each."""
    rendered = {**template, "Resources": dict(template["Resources"]), "Outputs": dict(template.get("Outputs", {}))}
    for contract in contracts.values():
        rendered["Resources"][logical_id(contract)] = glue_table(contract)
    rendered["Outputs"]["DatasetTables"] = {"Value": ",".join(c.table_name for c in contracts.values())}
    return rendered
