"""The inventory: every object that arrives in the ingest bucket gets a job item, whatever processing does."""

from __future__ import annotations

from pipeline.runtime.arrival.events import ObjectRef
from pipeline.runtime.config import Settings
from pipeline.runtime.jobs import JobStore
from pipeline.runtime.messages import JobItem


def record_arrival(ref: ObjectRef, settings: Settings) -> JobItem:
    """Record the object on its job (RECEIVED unless processing got there first); safe to repeat."""
    return JobStore(settings.jobs_table).record_arrival(ref.job_id, ref.arrival_fields())
