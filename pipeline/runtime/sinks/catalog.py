"""Register a job's partitions in the Glue catalog so Athena on AWS sees them (the local engine reads paths)."""

from __future__ import annotations

from typing import Any

from pipeline.runtime import aws

GLUE_BATCH = 100


def partitions_of(keys: list[str]) -> list[tuple[str, str, str]]:
    """(dataset, partition name, value) for every `<dataset>/<name>=<value>/...` output key."""
    found: set[tuple[str, str, str]] = set()
    for key in keys:
        parts = key.split("/")
        if len(parts) >= 3 and "=" in parts[1]:
            name, value = parts[1].split("=", 1)
            found.add((parts[0], name, value))
    return sorted(found)


def register_partitions(database: str, bucket: str, keys: list[str]) -> int:
    """Create the Glue partitions behind ``keys``; return how many were asked.

    A partition that exists already gets the table's current storage settings: Athena reads each partition
    with its own SerDe parameters, so one registered under an older output format (ADR 1) would go on
    reading new files by the old rules (ADR 7).
    """
    if not database:
        return 0
    glue = aws.client("glue")
    wanted = partitions_of(keys)
    by_table: dict[str, list[tuple[str, str]]] = {}
    for dataset, name, value in wanted:
        by_table.setdefault(dataset, []).append((name, value))
    for dataset, values in by_table.items():
        table_name = dataset.replace("-", "_").lower()
        descriptor: dict[str, Any] = glue.get_table(DatabaseName=database, Name=table_name)["Table"][
            "StorageDescriptor"
        ]
        inputs = []
        for name, value in values:
            storage = {**descriptor, "Location": f"s3://{bucket}/{dataset}/{name}={value}/"}
            inputs.append({"Values": [value], "StorageDescriptor": storage})
        existing: list[dict[str, Any]] = []
        for i in range(0, len(inputs), GLUE_BATCH):
            batch = inputs[i : i + GLUE_BATCH]
            errors = glue.batch_create_partition(
                DatabaseName=database, TableName=table_name, PartitionInputList=batch
            ).get("Errors", [])
            already = {tuple(e["PartitionValues"]) for e in errors if _code(e) == "AlreadyExistsException"}
            existing += [p for p in batch if tuple(p["Values"]) in already]
        for i in range(0, len(existing), GLUE_BATCH):
            entries = [{"PartitionValueList": p["Values"], "PartitionInput": p} for p in existing[i : i + GLUE_BATCH]]
            glue.batch_update_partition(DatabaseName=database, TableName=table_name, Entries=entries)
    return len(wanted)


def _code(error: dict[str, Any]) -> str:
    return str((error.get("ErrorDetail") or {}).get("ErrorCode", ""))
