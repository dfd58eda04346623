"""Run the benchmark as a script: `python benchmarks/bench.py [ROWS] [pipeline bench options]`.

Same as `pipeline bench --rows ROWS ...`; e.g. the CI smoke run: `python benchmarks/bench.py 20000 --skip-peer`.
"""

import sys

from pipeline.tools.cli.main import cli

if __name__ == "__main__":
    args = sys.argv[1:]
    rows = args.pop(0) if args and args[0].isdigit() else "1000000"
    cli(["bench", "--rows", rows, *args])
