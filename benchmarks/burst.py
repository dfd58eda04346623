"""Burst test: `python benchmarks/burst.py [FILES] [ROWS_EACH]` (default 175 files of 100 rows, uploaded at once).

Runs on a private local cloud, prints latency and throughput, and exits 1 unless every upload's job finished
and `pipeline sweep` finds nothing.
"""

import json
import sys
import tempfile
from pathlib import Path

from pipeline.tools.bench.burst import run

if __name__ == "__main__":
    files, rows_each = ([int(a) for a in sys.argv[1:3]] + [175, 100][len(sys.argv[1:3]) :])[:2]
    with tempfile.TemporaryDirectory() as work:
        result = run(Path(work), files, rows_each, lambda line: print(line, file=sys.stderr))
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["all_finished_s"] is not None and result["sweep_finds"] == 0 else 1)
