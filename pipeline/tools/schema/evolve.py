"""What `pipeline deploy` does about contract changes: compare with the deployed contracts, refuse or apply.

The deployed contract of a stage is the one bundled in the code zip the stack runs (its `CodeKey` parameter in
its `ArtifactBucket`): exactly what the Lambdas enforce, read back byte for byte. Safe changes are applied by
the stack update (the Glue table gets the new column list); then every partition already registered is given
the table's new storage descriptor, so that a partition registered with the old column list does not hide an
appended column from the new rows written into it (Trino reads a partition with its own descriptor; old lines,
having fewer fields, read NULL in the appended columns either way).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.contract import Contract, ContractError
from pipeline.runtime.contract.loader import parse_contract
from pipeline.runtime.contract.strict import COLUMN_KEYWORDS, DOCUMENT_KEYWORDS, PARTITION_KEYWORDS
from pipeline.runtime.errors import PipelineError
from pipeline.tools.schema.diff import DatasetDiff, Level, compare_all

Progress = Callable[[str], None]
BUNDLED = "pipeline/runtime/_schemas/"
ARCHIVE_PREFIX = "_archive"
GLUE_BATCH = 100
GLUE_DELETE_BATCH = 25


class EvolutionRefused(PipelineError):
    """A contract change would misread data already written; the message names each column and the ways forward."""


class DeployedContractError(PipelineError):
    """The deployed contracts cannot be read back."""


@dataclass(frozen=True)
class Evolution:
    """What the operator allows beyond safe changes, per dataset."""

    allow_stricter: frozenset[str] = field(default_factory=frozenset)
    archive_output: frozenset[str] = field(default_factory=frozenset)


def _lenient(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` without the keywords today's rules refuse: a stage deployed before strict contracts may run
    one with a typo, and what it ran (without the unknown keyword) is what its data was written with."""
    kept = {k: v for k, v in document.items() if k in DOCUMENT_KEYWORDS}
    kept["properties"] = {
        name: {k: v for k, v in spec.items() if k in COLUMN_KEYWORDS}
        for name, spec in kept.get("properties", {}).items()
    }
    if isinstance(kept.get("x-partition"), dict):
        kept["x-partition"] = {k: v for k, v in kept["x-partition"].items() if k in PARTITION_KEYWORDS}
    return kept


def contracts_in_zip(body: bytes) -> dict[str, Contract]:
    """The contracts bundled in a code zip, by dataset (read leniently: see `_lenient`)."""
    archive = zipfile.ZipFile(io.BytesIO(body))
    found = {}
    for name in archive.namelist():
        if name.startswith(BUNDLED) and name.endswith(".schema.json"):
            dataset = name[len(BUNDLED) : -len(".schema.json")]
            document = json.loads(archive.read(name))
            try:
                found[dataset] = parse_contract(dataset, document)
            except ContractError:
                found[dataset] = parse_contract(dataset, _lenient(document))
    return found


def deployed_contracts(stack_name: str) -> dict[str, Contract] | None:
    """The contracts the stage's Lambdas run with, or None when the stage has no stack yet."""
    from pipeline.tools.deploy.stack import stack_parameters

    parameters = stack_parameters(stack_name)
    if not parameters:  # no stack, or one that runs no code yet (buckets adopted by an IMPORT change set)
        return None
    bucket, key = parameters.get("ArtifactBucket"), parameters.get("CodeKey")
    if not bucket or not key:
        raise DeployedContractError(f"stack {stack_name} has no ArtifactBucket/CodeKey parameters to read")
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        raise DeployedContractError(
            f"the code stack {stack_name} runs (s3://{bucket}/{key}) cannot be read ({exc.response['Error']['Code']}): "
            "its contracts cannot be compared"
        ) from exc
    return contracts_in_zip(body)


def plan(stack_name: str, contracts: dict[str, Contract]) -> list[DatasetDiff]:
    """Every dataset's changes between the stage and ``contracts``; empty for a stage not deployed yet."""
    deployed = deployed_contracts(stack_name)
    return [] if deployed is None else compare_all(deployed, contracts)


def judge(diffs: list[DatasetDiff], evolution: Evolution) -> list[DatasetDiff]:
    """The datasets to archive; `EvolutionRefused` for any change the operator did not allow."""
    refused = []
    archive = []
    for diff in diffs:
        if diff.level is Level.SAFE:
            continue
        if diff.dataset in evolution.archive_output:
            archive.append(diff)
        elif diff.level is Level.STRICTER and diff.dataset in evolution.allow_stricter:
            continue
        else:
            refused.append(diff)
    if refused:
        raise EvolutionRefused("refusing to deploy: " + " | ".join(d.message() for d in refused))
    return archive


def archive_output(outputs: dict[str, str], dataset: str, progress: Progress) -> int:
    """Move every output object of ``dataset`` under `_archive/<dataset>/<UTC time>/` and drop its partitions."""
    s3 = aws.client("s3")
    bucket = outputs["ResultsBucket"]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{dataset}/"):
        keys = [o["Key"] for o in page.get("Contents", [])]
        for key in keys:
            s3.copy_object(
                Bucket=bucket,
                Key=f"{ARCHIVE_PREFIX}/{dataset}/{stamp}/{key}",
                CopySource=f"{bucket}/{key}",
            )
        for i in range(0, len(keys), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]})
        moved += len(keys)
    dropped = _drop_partitions(outputs.get("GlueDatabase", ""), dataset.replace("-", "_").lower())
    progress(
        f"archived {moved} output objects of {dataset} to s3://{bucket}/{ARCHIVE_PREFIX}/{dataset}/{stamp}/ "
        f"and dropped {dropped} partitions"
    )
    return moved


def _partitions(glue: Any, database: str, table: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    try:
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
            found.extend(page.get("Partitions", []))
    except ClientError as exc:
        if aws.error_code(exc) == "EntityNotFoundException":
            return []
        raise
    return found


def _drop_partitions(database: str, table: str) -> int:
    if not database:
        return 0
    glue = aws.client("glue")
    values = [p["Values"] for p in _partitions(glue, database, table)]
    for i in range(0, len(values), GLUE_DELETE_BATCH):
        batch = values[i : i + GLUE_DELETE_BATCH]
        try:
            glue.batch_delete_partition(
                DatabaseName=database, TableName=table, PartitionsToDelete=[{"Values": v} for v in batch]
            )
        except ClientError as exc:  # MiniStack has no BatchDeletePartition (docs/local-cloud.md)
            if aws.error_code(exc) != "InvalidAction":
                raise
            for value in batch:
                glue.delete_partition(DatabaseName=database, TableName=table, PartitionValues=value)
    return len(values)


def sync_partitions(database: str, table: str) -> int:
    """Give every registered partition of ``table`` the table's current columns and SerDe; return how many changed."""
    glue = aws.client("glue")
    storage = glue.get_table(DatabaseName=database, Name=table)["Table"]["StorageDescriptor"]
    entries = []
    for partition in _partitions(glue, database, table):
        current = partition.get("StorageDescriptor") or {}
        if current.get("Columns") == storage.get("Columns") and current.get("SerdeInfo") == storage.get("SerdeInfo"):
            continue
        descriptor = {**storage, "Location": current.get("Location", storage.get("Location"))}
        entries.append(
            {
                "PartitionValueList": partition["Values"],
                "PartitionInput": {
                    "Values": partition["Values"],
                    "StorageDescriptor": descriptor,
                    "Parameters": partition.get("Parameters") or {},
                },
            }
        )
    for i in range(0, len(entries), GLUE_BATCH):
        response = glue.batch_update_partition(
            DatabaseName=database, TableName=table, Entries=entries[i : i + GLUE_BATCH]
        )
        if response.get("Errors"):
            raise PipelineError(f"Glue refused to update partitions of {table}: {response['Errors'][0]}")
    return len(entries)


def before_deploy(
    stack_name: str, contracts: dict[str, Contract], evolution: Evolution, progress: Progress
) -> list[DatasetDiff]:
    """Compare, refuse what is not allowed, archive what is to be archived; the diffs for `after_deploy`."""
    from pipeline.tools.deploy.stack import outputs as stack_outputs

    diffs = plan(stack_name, contracts)
    for diff in diffs:
        for change in diff.changes:
            if diff.status != "unchanged":
                progress(
                    f"contract {diff.dataset}: {change.level} {change.what}"
                    f"{f' {change.column}' if change.column else ''}: {change.detail}"
                )
    for diff in judge(diffs, evolution):
        archive_output(stack_outputs(stack_name), diff.dataset, progress)
    return diffs


def after_deploy(outputs: dict[str, str], diffs: list[DatasetDiff], progress: Progress) -> None:
    """Bring the partitions of every changed dataset to its table's new column list."""
    database = outputs.get("GlueDatabase", "")
    for diff in diffs:
        if diff.status != "changed" or not database:
            continue
        updated = sync_partitions(database, diff.dataset.replace("-", "_").lower())
        if updated:
            progress(f"contract {diff.dataset}: {updated} partitions now read with the new column list")
