"""The first rejected records of a job, read from the CSV objects its pages wrote under `_rejects/`."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from typing import Any

from pipeline.runtime import aws
from pipeline.runtime.messages import PageItem

PREVIEW_BYTES = 256 * 1024


def _rows(body: bytes, complete: bool) -> list[dict[str, str]]:
    """The records of a rejects CSV; when ``body`` is a truncated prefix, the possibly cut last one is dropped."""
    reader = csv.DictReader(io.StringIO(body.decode("utf-8", errors="replace")))
    rows: list[dict[str, str]] = []
    try:
        rows.extend(reader)
    except csv.Error:
        complete = False
    return rows if complete else rows[:-1]


@lru_cache(maxsize=128)
def _read(bucket: str, key: str) -> tuple[dict[str, str], ...]:
    response = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{PREVIEW_BYTES - 1}")
    body = response["Body"].read()
    total = int(str(response.get("ContentRange", "")).rpartition("/")[2] or len(body))
    return tuple(_rows(body, len(body) >= total))


def first_rejects(bucket: str, pages: list[PageItem], limit: int = 25) -> list[dict[str, Any]]:
    """Up to ``limit`` rejected records (page, line, reasons, record) in page order."""
    out: list[dict[str, Any]] = []
    for page in sorted(pages, key=lambda p: int(p.get("page", 0))):
        if not page.get("rejects_key"):
            continue
        for row in _read(bucket, page["rejects_key"]):
            out.append({"page": page.get("page"), "key": page["rejects_key"], **row})
            if len(out) >= limit:
                return out
    return out
