"""Where each job's output objects live in the results bucket: deterministic per job, page and partition."""

from __future__ import annotations

from pipeline.runtime.sinks.text_format import EXTENSION

REJECTS_PREFIX = "_rejects"


def output_key(
    dataset: str,
    partition_name: str | None,
    partition_value: str | None,
    job_id: str,
    page: int,
    extension: str = EXTENSION,
) -> str:
    """The object holding one page's valid rows of one partition; a retry writes the same key.

    ``extension`` is the output format's: `.tsv` (text, the default) or `.parquet`."""
    folder = f"{dataset}/{partition_name}={partition_value}/" if partition_name else f"{dataset}/"
    return f"{folder}part-{job_id}-{page:06d}{extension}"


def rejects_key(dataset: str, job_id: str, page: int) -> str:
    """The object holding one page's rejected records, outside the table's prefix."""
    return f"{REJECTS_PREFIX}/{dataset}/job={job_id}/page-{page:06d}.csv"

