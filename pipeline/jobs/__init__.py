"""Jobs: one per uploaded object version, with its pages, counts, timings, outputs and errors."""

from pipeline.jobs.model import JobStatus
from pipeline.jobs.store import JobStore

__all__ = ["JobStatus", "JobStore"]
