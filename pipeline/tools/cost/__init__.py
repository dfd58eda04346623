"""Estimated AWS bill of the pipeline, from the requests a benchmark run measured (`pipeline cost`)."""
