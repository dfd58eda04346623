"""What the console's row cap saves: `python benchmarks/console_query.py [SQL] [--stage STAGE]`.

Runs SQL (default `SELECT * FROM orders`) three ways, each in a fresh process, against a deployed stage (the
embedded local cloud unless --stage, which must be running and hold the rows): every row fetched then cut at
50,000 (the console before its cap), the paged fetch that stops at the cap, and the console's own path
(checked statement with LIMIT 50001, paged fetch). Prints wall time, GetQueryResults calls and peak memory.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

MODES = ("fetch-all", "paged", "console")


def measure(mode: str, sql: str, stage: str | None) -> dict[str, object]:
    import pyathena.result_set

    from pipeline.tools.cli import ops
    from pipeline.tools.cli.target import resolve
    from pipeline.tools.console.api import MAX_QUERY_ROWS, ConsoleApi
    from pipeline.tools.query import run_query

    cloud = resolve(stage)
    outs = ops.outputs(cloud)
    calls = []
    fetch = pyathena.result_set.AthenaResultSet._get_query_results

    def counted(self: object, *args: object, **kwargs: object) -> object:
        calls.append(1)
        return fetch(self, *args, **kwargs)

    pyathena.result_set.AthenaResultSet._get_query_results = counted  # type: ignore[method-assign]
    where = {
        "database": outs["GlueDatabase"],
        "workgroup": outs["AthenaWorkGroup"],
        "output_location": outs["AthenaResultLocation"],
    }
    started = time.monotonic()
    if mode == "fetch-all":
        rows = run_query(sql, **where).rows[:MAX_QUERY_ROWS]
    elif mode == "paged":
        rows = run_query(sql, max_rows=MAX_QUERY_ROWS, **where).rows
    else:
        rows = ConsoleApi(outs, cloud.stage).query(sql)["rows"]
    return {
        "mode": mode,
        "seconds": round(time.monotonic() - started, 1),
        "rows": len(rows),
        "get_query_results_calls": len(calls),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    stage = None
    if "--stage" in args:
        at = args.index("--stage")
        stage = args[at + 1]
        del args[at : at + 2]
    if args and args[0] == "--one":
        print(json.dumps(measure(args[1], args[2], stage)))
        sys.exit(0)
    query = args[0] if args else "SELECT * FROM orders"
    for each in MODES:
        extra = ["--stage", stage] if stage else []
        done = subprocess.run([sys.executable, __file__, "--one", each, query, *extra], capture_output=True, text=True)
        print(done.stdout.strip() or done.stderr.strip().splitlines()[-1])
