"""Thin Lambda entry points: parse the event, call `pipeline`, return."""

from pipeline.runtime import coldstart

coldstart.prepare()  # before any handler module imports pyarrow (pipeline/runtime/coldstart.py says why)
