"""Jobs: one per uploaded object version, with its pages, counts, timings, outputs and errors."""

from pipeline.runtime.jobs.model import JobStatus
from pipeline.runtime.jobs.store import JobStore

__all__ = ["JobStatus", "JobStore"]
