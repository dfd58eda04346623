"""Typed settings read once from `PIPELINE_*` environment variables (set by the template on AWS and locally)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from functools import cache

PREFIX = "PIPELINE_"


@dataclass(frozen=True)
class Settings:
    """Where the pipeline's resources are and how it pages and writes."""

    stage: str = "local"
    results_bucket: str = ""
    records_table: str = ""
    jobs_table: str = ""
    state_machine_arn: str = ""
    pages_topic_arn: str = ""
    job_events_topic_arn: str = ""
    glue_database: str = ""  # PIPELINE_GLUE_DATABASE
    uploads_dead_letter_queue_arn: str = ""  # the job-steps function consumes it
    page_rows: int = 50_000
    inline_max_bytes: int = 5_000_000
    gzip_max_bytes: int = 128 << 20  # a .gz upload may expand to this many bytes (read inline, page by page)
    gzip_max_ratio: int = 200  # ... and, past 64 MiB, to this multiple of its compressed size
    page_max_bytes: int = 64 << 20  # a page ends after page_rows records or this many bytes
    record_max_bytes: int = 16 << 20  # longer records are rejected unparsed
    pages_per_iteration: int = 50
    iterations_per_execution: int = 1000
    dynamodb_writers: int = 4
    compact_outputs: int = 1  # 1 (the template default): pages write key indexes, the compact step compacts (ADR 10)
    compact_file_bytes: int = 128 << 20  # a compacted partition starts another file past this many bytes
    failpoints: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from `PIPELINE_<FIELD>` variables; unset ones keep their defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = int(raw) if f.type in ("int", int) else raw
        return cls(**values)  # type: ignore[arg-type]


@cache
def settings() -> Settings:
    """The process-wide settings (read once per cold start)."""
    return Settings.from_env()
