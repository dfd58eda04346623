"""Benchmark the pipeline on the local cloud against its limits, in one run on one machine."""
