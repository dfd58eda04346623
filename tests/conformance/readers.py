"""The readers of the matrix that talk to the (local) cloud: DynamoDB items and Athena through pyathena.

Each returns rows as plain Python values (`str`, `int`, `float`, `bool`, `date`, naive UTC `datetime`,
`None`), the same shapes `truth`, `trino_text` and `hive_serde` return, so that cells compare directly.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import boto3

from pipeline.runtime.contract import Contract


def dynamodb_rows(stack: dict[str, str], contract: Contract, job_id: str) -> list[dict[str, Any]]:
    """The items a job wrote, scanned with plain boto3 and typed by the contract (absent attribute = NULL)."""
    client = boto3.client(
        "dynamodb",
        endpoint_url=stack["Endpoint"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    kwargs: dict[str, Any] = {
        "TableName": stack["RecordsTable"],
        "FilterExpression": "job_id = :j",
        "ExpressionAttributeValues": {":j": {"S": job_id}},
    }
    rows = []
    while True:
        page = client.scan(**kwargs)
        rows.extend(_item_row(item, contract) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return rows
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _item_row(item: dict[str, dict[str, Any]], contract: Contract) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in contract.columns:
        attribute = item.get(column.name)
        if attribute is None or "NULL" in attribute:
            row[column.name] = None
        elif "BOOL" in attribute:
            row[column.name] = attribute["BOOL"]
        elif "N" in attribute:
            row[column.name] = int(attribute["N"]) if column.kind == "integer" else float(attribute["N"])
        elif column.kind == "date":
            row[column.name] = date.fromisoformat(attribute["S"])
        elif column.kind == "timestamp":
            row[column.name] = datetime.strptime(attribute["S"], "%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            row[column.name] = attribute["S"]
    return row


def athena_rows(stack: dict[str, str], sql: str) -> list[dict[str, Any]]:
    """The rows of ``sql`` through unmodified pyathena's default cursor against the stage's workgroup."""
    from pyathena import connect

    cursor = connect(
        s3_staging_dir=stack["AthenaResultLocation"],
        region_name="us-east-1",
        endpoint_url=stack["Endpoint"],
        work_group=stack["AthenaWorkGroup"],
        schema_name=stack["GlueDatabase"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).cursor()
    cursor.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
