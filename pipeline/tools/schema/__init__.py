"""Operator tools for dataset contracts: draft one from a file (`infer`), dry-run it (`check`), evolve it (`diff`).

Never bundled into the Lambda code zip (only `pipeline/runtime/` is; see `pipeline/tools/deploy/package.py`).
"""
