"""Read exactly the announced object version of an upload, whole or by byte range."""

from __future__ import annotations

from typing import Any

from pipeline.runtime import aws


def get_range(
    bucket: str, key: str, *, version_id: str | None, etag: str | None, start: int, end: int | None = None
) -> Any:
    """The streaming body of bytes [start, end) (to the end when ``end`` is None) of one object version.

    The read is pinned by VersionId. A server that answers a versioned ranged GET with the whole object
    (no Content-Range; MiniStack does this, see docs/local-cloud.md) is asked again pinned by ETag instead,
    so the bytes are always the announced version's and always the requested range.
    """
    byte_range = f"bytes={start}-" + ("" if end is None else str(end - 1))
    s3 = aws.client("s3")
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "Range": byte_range}
    if version_id:
        response = s3.get_object(**kwargs, VersionId=version_id)
        if response.get("ContentRange") or (start == 0 and end is None):
            return response["Body"]
        response["Body"].close()
    if etag:
        kwargs["IfMatch"] = etag if etag.startswith('"') else f'"{etag}"'
    return s3.get_object(**kwargs)["Body"]
