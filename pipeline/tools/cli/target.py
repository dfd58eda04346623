"""Resolve which cloud a command talks to: the embedded local cloud, or a stage on AWS."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.tools.local import LocalCloud

LOCAL_STAGE = "local"


@dataclass(frozen=True)
class Cloud:
    """The stage a command works on and, when local, the local cloud serving it."""

    stage: str
    local: LocalCloud | None

    @property
    def stack_name(self) -> str:
        return f"pipeline-{self.stage}"


def clear_endpoints() -> list[str]:
    """Drop `AWS_ENDPOINT_URL` and every `AWS_ENDPOINT_URL_<SERVICE>`: a stage talks to AWS's own endpoints.

    A service's variable left set (`AWS_ENDPOINT_URL_S3` of another tool, or of a local cloud this process used)
    would silently send that service's calls elsewhere. Returns the names dropped.
    """
    dropped = [name for name in os.environ if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_")]
    for name in dropped:
        del os.environ[name]
    return dropped


def resolve(stage: str | None, region: str | None = None, profile: str | None = None, local: bool = False) -> Cloud:
    """`--stage` names an AWS stage; without it (or with `--local` or `PIPELINE_LOCAL=1`) the local cloud is used."""
    local = local or os.environ.get("PIPELINE_LOCAL") == "1"
    if local or not stage or stage == LOCAL_STAGE:
        cloud = LocalCloud.from_env()
        cloud.activate()
        return Cloud(stage or LOCAL_STAGE, cloud)
    if profile:
        os.environ["AWS_PROFILE"] = profile
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
    clear_endpoints()
    from pipeline.runtime import aws

    aws.reset()
    return Cloud(stage, None)
