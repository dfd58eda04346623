"""Arrival of objects in the ingest bucket: event decoding, jobs and dispatch."""
