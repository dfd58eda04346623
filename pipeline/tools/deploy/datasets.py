"""Render one Glue table resource per dataset contract into the packaged template."""

from __future__ import annotations

import re
from typing import Any

from pipeline.runtime.contract import Contract
from pipeline.runtime.sinks.text_format import INPUT_FORMAT, OUTPUT_FORMAT, SERDE, SERDE_PARAMETERS


def logical_id(contract: Contract) -> str:
    """The template logical id of a dataset's table, e.g. `DatasetTableOrders`."""
    words = re.split(r"[^a-zA-Z0-9]+", contract.dataset)
    return "DatasetTable" + "".join(w[:1].upper() + w[1:] for w in words if w)


def glue_table(contract: Contract) -> dict[str, Any]:
    """An `AWS::Glue::Table` over `s3://<results>/<dataset>/`, partitioned as the contract says."""
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
                    "classification": "csv",
                    "has_encrypted_data": "false",
                    "x-primary-key": ",".join(contract.primary_key),
                },
                "PartitionKeys": partition_keys,
                "StorageDescriptor": {
                    "Columns": [{"Name": c.name, "Type": c.glue_type} for c in contract.columns],
                    "Location": {"Fn::Sub": f"s3://${{ResultsBucket}}/{contract.dataset}/"},
                    "InputFormat": INPUT_FORMAT,
                    "OutputFormat": OUTPUT_FORMAT,
                    "SerdeInfo": {"SerializationLibrary": SERDE, "Parameters": dict(SERDE_PARAMETERS)},
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
