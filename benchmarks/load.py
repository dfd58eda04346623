"""Load test: `python benchmarks/load.py [FILES] [ROWS_EACH] [BIG_ROWS]` (default 20 x 20,000 rows + 1,000,000).

Runs on a private local cloud, prints the wall time, and exits 1 unless every job completes and reconciles.
"""

import json
import sys
import tempfile
from pathlib import Path

from pipeline.tools.bench.load import run

if __name__ == "__main__":
    files, rows_each, big_rows = ([int(a) for a in sys.argv[1:4]] + [20, 20_000, 1_000_000][len(sys.argv[1:4]) :])[:3]
    with tempfile.TemporaryDirectory() as work:
        result = run(Path(work), files, rows_each, big_rows, lambda line: print(line, file=sys.stderr))
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["reconciled"] == result["files"] == result["complete"] else 1)
