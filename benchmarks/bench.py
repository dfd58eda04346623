"""Run the benchmark as a script: `python benchmarks/bench.py [ROWS]` (same as `pipeline bench --rows ROWS`)."""

import sys

from pipeline.cli.main import cli

if __name__ == "__main__":
    cli(["bench", "--rows", sys.argv[1] if len(sys.argv) > 1 else "1000000"])
