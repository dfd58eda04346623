"""The permissions boundary of the stack's roles: one managed policy per account, made once by an administrator.

The deployer policy lets `pipeline deploy` create and edit roles only with this boundary attached, so whatever
a role's own policy says, it can do no more than `docs/permissions-boundary.json` allows (issue 12, finding 3).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from pipeline.runtime import aws
from pipeline.runtime.errors import PipelineError

NAME = "pipeline-role-boundary"
PATH = "/pipeline/"
_IN_TREE = Path(__file__).resolve().parents[3] / "docs" / "permissions-boundary.json"
# a wheel install carries a copy (setup.py)
_SHIPPED = Path(__file__).resolve().parents[2] / "_shipped" / "docs" / "permissions-boundary.json"
DOCUMENT = _IN_TREE if _IN_TREE.is_file() else _SHIPPED
DESCRIPTION = "Permissions boundary of every role of the s3-csv-pipeline stacks (docs/permissions-boundary.json)."
_MAX_VERSIONS = 5  # IAM keeps at most five versions of a managed policy

Progress = Callable[[str], None]


class BoundaryError(PipelineError):
    """The permissions boundary could not be read or written."""


class BoundaryMissingError(BoundaryError):
    """The account has no permissions boundary yet; an administrator creates it once."""


def arn(partition: str, account: str) -> str:
    """The boundary's ARN in ``account``."""
    return f"arn:{partition}:iam::{account}:policy{PATH}{NAME}"


def document() -> dict[str, Any]:
    """The shipped boundary document."""
    return dict(json.loads(DOCUMENT.read_text(encoding="utf-8")))


def create_command() -> str:
    """The AWS CLI line that creates the boundary (what `pipeline bootstrap` does)."""
    return (
        f"aws iam create-policy --path {PATH} --policy-name {NAME} "
        "--policy-document file://docs/permissions-boundary.json"
    )


def _not_found(exc: ClientError) -> bool:
    return aws.error_code(exc) in ("NoSuchEntity", "NoSuchEntityException", "404")


def require(partition: str, account: str) -> str:
    """The boundary's ARN; `BoundaryMissingError` saying how to create it when the account has none."""
    policy_arn = arn(partition, account)
    try:
        aws.client("iam").get_policy(PolicyArn=policy_arn)
    except ClientError as exc:
        if not _not_found(exc):
            raise BoundaryError(f"cannot read the permissions boundary {policy_arn}: {exc}") from exc
        raise BoundaryMissingError(
            f"the permissions boundary {policy_arn} does not exist: an administrator creates it once per account "
            f"with `pipeline bootstrap` (or `{create_command()}`)"
        ) from None
    return policy_arn


def _default_document(iam: Any, policy_arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    policy = iam.get_policy(PolicyArn=policy_arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=policy_arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    held = version["Document"]
    held = json.loads(held) if isinstance(held, str) else held
    return held, iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]


def ensure(partition: str, account: str, progress: Progress) -> str:
    """Create the boundary, or make the shipped document its default version; return its ARN (an admin's action)."""
    try:
        return _ensure(partition, account, progress)
    except ClientError as exc:
        raise BoundaryError(f"could not create or update the permissions boundary: {exc}") from exc


def _ensure(partition: str, account: str, progress: Progress) -> str:
    iam = aws.client("iam")
    policy_arn = arn(partition, account)
    wanted = document()
    try:
        held, versions = _default_document(iam, policy_arn)
    except ClientError as exc:
        if not _not_found(exc):
            raise
        iam.create_policy(PolicyName=NAME, Path=PATH, PolicyDocument=json.dumps(wanted), Description=DESCRIPTION)
        progress(f"created the permissions boundary {policy_arn}")
        return policy_arn
    if held == wanted:
        return policy_arn
    if len(versions) >= _MAX_VERSIONS:
        oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: str(v["CreateDate"]))
        iam.delete_policy_version(PolicyArn=policy_arn, VersionId=oldest["VersionId"])
    iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=json.dumps(wanted), SetAsDefault=True)
    progress(f"updated the permissions boundary {policy_arn} to docs/permissions-boundary.json")
    return policy_arn
