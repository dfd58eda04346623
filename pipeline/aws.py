"""One factory for AWS clients: endpoint and region from the environment, created lazily, cached per process."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=32)


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    """A boto3 client for ``service``; `AWS_ENDPOINT_URL` (set only locally) points it at the local cloud."""
    return _session().client(service, config=_CONFIG)


def reset() -> None:
    """Forget cached clients (tests that switch endpoints call this)."""
    client.cache_clear()
    _session.cache_clear()
