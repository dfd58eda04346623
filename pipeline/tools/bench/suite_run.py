"""The suites beyond the default one, run on one private local cloud in their fixed order: small-file latency,
an S3-only dataset end to end, Athena queries over its output, and a stop and start with its state inside."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.runtime import aws
from pipeline.runtime.contract.loader import SCHEMAS_ENV, source_schemas_dir
from pipeline.runtime.jobs import JobStore
from pipeline.tools.bench import references
from pipeline.tools.bench.cloud import BenchCloud, private_cloud
from pipeline.tools.bench.report import markdown
from pipeline.tools.bench.run import default_page_rows, machine, run
from pipeline.tools.bench.small_files import small_files
from pipeline.tools.bench.suites import (
    DEFAULT,
    QUERY,
    RESTART,
    S3_ONLY,
    SCALE,
    SMALL_FILES,
    RatioRow,
    ratio_row,
)
from pipeline.tools.cli import ops
from pipeline.tools.sample import write_orders

Progress = Callable[[str], None]
S3_DATASET = "orders_s3"
SEED = 42
PUT_WRITERS = 4 * 8  # the page mapping's MaximumConcurrency times each page's PutObject threads


@contextmanager
def s3_only_schemas(workdir: Path) -> Iterator[Path]:
    """A schemas folder holding the repository's schemas plus `orders_s3` (orders with `x-dynamodb: false`),
    set as `PIPELINE_SCHEMAS_DIR` while the stage is packaged and deployed; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bench-schemas-", dir=workdir))
    previous = os.environ.get(SCHEMAS_ENV)
    try:
        for schema in source_schemas_dir().glob("*.schema.json"):
            shutil.copy(schema, folder / schema.name)
        document = json.loads((folder / "orders.schema.json").read_text())
        document |= {"title": S3_DATASET, "x-dynamodb": False}
        (folder / f"{S3_DATASET}.schema.json").write_text(json.dumps(document, indent=2))
        os.environ[SCHEMAS_ENV] = str(folder)
        yield folder
    finally:
        if previous is None:
            os.environ.pop(SCHEMAS_ENV, None)
        else:
            os.environ[SCHEMAS_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def page_stages(pages: list[Any]) -> dict[str, float]:
    """Seconds per stage summed over a job's pages (each page records its own `timings_ms`)."""
    totals: dict[str, int] = {}
    for page in pages:
        for stage, ms in (page.get("timings_ms") or {}).items():
            totals[stage] = totals.get(stage, 0) + int(ms)
    return {stage: round(ms / 1000, 2) for stage, ms in totals.items()}


def _lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as log:
        return sum(1 for _ in log)


def put_objects(call_log: Path, skip: int = 0) -> dict[str, int]:
    """The `PutObject` calls the pipeline's functions logged after the first ``skip`` lines: how many, and
    their mean body size."""
    count, size = 0, 0
    if call_log.exists():
        with call_log.open() as log:
            for number, line in enumerate(log):
                if number < skip:
                    continue
                call = json.loads(line)
                if call.get("function") and call.get("operation") == "PutObject":
                    count += 1
                    size += int(call.get("params", {}).get("Bytes") or 0)
    return {"objects": count, "bytes": size, "mean_bytes": size // count if count else 0}


def s3_only(bench: BenchCloud, path: Path, progress: Progress) -> dict[str, Any]:
    """The file through a dataset with `x-dynamodb: false`, upload to COMPLETE, against DuckDB reading it and
    writing the same day-partitioned output to local disk."""
    outs = bench.outputs
    logged = _lines(bench.call_log)
    started = time.perf_counter()
    upload = ops.ingest(path, S3_DATASET, outs, f"{S3_DATASET}/bench/{path.name}")
    job = ops.wait_for(outs, [upload], lambda jobs: None, timeout=7200)[0]
    seconds = time.perf_counter() - started
    rows = int(job.get("rows_input") or 0)
    progress(f"S3-only job {job.get('status')} in {seconds:.1f}s, {job.get('pages_total')} pages")
    stages = page_stages(JobStore(outs["JobsTable"]).pages(job["job_id"]))
    progress("S3-only stage seconds summed over pages: " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    puts = put_objects(bench.call_log, skip=logged)
    floor = references.s3_put_floor(puts["mean_bytes"], max(200, min(puts["objects"], 2_000)), PUT_WRITERS)
    put_floor_s = puts["objects"] / floor["objects_per_s"] if floor["objects_per_s"] else None
    progress(
        f"S3-only job wrote {puts['objects']:,} objects (mean {puts['mean_bytes']:,} B); raw PutObject "
        f"{floor['objects_per_s']:,} objects/s"
    )
    duckdb = references.duckdb_reference(path, path.parent / "duckdb-s3-only")
    return {
        "put_objects": puts,
        "put_floor": floor,
        "put_floor_rows_per_s": round(rows / put_floor_s) if put_floor_s else None,
        "job_id": job["job_id"],
        "job_status": job.get("status"),
        "rows": rows,
        "rows_valid": int(job.get("rows_valid") or 0),
        "pages": int(job.get("pages_total") or 0),
        "end_to_end_s": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "stages_s": stages,
        "duckdb_s": duckdb["seconds"],
        "duckdb_rows_per_s": round(rows / duckdb["seconds"]) if duckdb["seconds"] else None,
    }


def _athena(outs: dict[str, str], sql: str) -> tuple[float, list[Any]]:
    from pipeline.tools.query import run_query

    started = time.perf_counter()
    result = run_query(
        sql,
        database=outs["GlueDatabase"],
        workgroup=outs["AthenaWorkGroup"],
        output_location=outs["AthenaResultLocation"],
    )
    return time.perf_counter() - started, [tuple(row) for row in result.rows]


def _duckdb(sql: str) -> tuple[float, list[Any]]:
    import duckdb

    started = time.perf_counter()
    with duckdb.connect() as con:
        rows = con.execute(sql).fetchall()
    return time.perf_counter() - started, rows


def query(bench: BenchCloud, path: Path, s3: dict[str, Any]) -> dict[str, Any]:
    """Athena `count(*)` and `GROUP BY dt` over the S3-only job's output, against DuckDB over the source file;
    the count must equal the job's valid rows (DuckDB counts every row of the file, rejects included)."""
    outs = bench.outputs
    source = f"read_csv('{path}', header=true, all_varchar=true)"
    day = "strftime(TRY_CAST(order_ts AS TIMESTAMP), '%Y-%m-%d')"
    count_s, count = _athena(outs, f"SELECT count(*) FROM {S3_DATASET}")
    group_s, groups = _athena(outs, f"SELECT dt, count(*) FROM {S3_DATASET} GROUP BY dt")
    duck_count_s, duck_count = _duckdb(f"SELECT count(*) FROM {source}")
    duck_group_s, duck_groups = _duckdb(f"SELECT {day} AS dt, count(*) FROM {source} GROUP BY dt")
    athena_rows = int(count[0][0]) if count else None
    return {
        "athena_count_s": round(count_s, 3),
        "athena_group_by_s": round(group_s, 3),
        "duckdb_count_s": round(duck_count_s, 3),
        "duckdb_group_by_s": round(duck_group_s, 3),
        "athena_rows": athena_rows,
        "athena_groups": len(groups),
        "athena_group_rows": sum(int(n) for _, n in groups),
        "duckdb_rows": int(duck_count[0][0]),
        "duckdb_groups": len(duck_groups),
        "matches_job": athena_rows == s3["rows_valid"],
    }


SAMPLE_ITEMS = 1_000


def records_state(table: str, sample: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The records table's `ItemCount` and a sample of its items: the first `SAMPLE_ITEMS` a `Scan` returns,
    or, given ``sample``, those items read again by key (`BatchGetItem`). A full count is not taken: the local
    cloud's `Scan` re-reads the whole table on every page, quadratic at a million items."""
    ddb = aws.client("dynamodb")
    count = int(ddb.describe_table(TableName=table)["Table"].get("ItemCount") or 0)
    if sample is None:
        return {"item_count": count, "items": ddb.scan(TableName=table, Limit=SAMPLE_ITEMS).get("Items", [])}
    found: list[dict[str, Any]] = []
    keys = [{"pk": item["pk"]} for item in sample]
    for first in range(0, len(keys), 100):
        request: dict[str, Any] = {table: {"Keys": keys[first : first + 100], "ConsistentRead": True}}
        while request:
            answer = ddb.batch_get_item(RequestItems=request)
            found += answer.get("Responses", {}).get(table, [])
            request = answer.get("UnprocessedKeys") or {}
    return {"item_count": count, "items": found}


def _same_items(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """The same items, whatever order each read returned them in (keyed by `pk`)."""
    return {item["pk"]["S"]: item for item in before} == {item["pk"]["S"]: item for item in after}


def restart(bench: BenchCloud, job_ids: list[str], progress: Progress) -> dict[str, Any]:
    """`pipeline local stop` then `pipeline local start` (the same calls) with the jobs' state in the cloud,
    against the first start of the same cloud with an empty state; every job in ``job_ids`` must still be
    COMPLETE after, and the records table hold as many items as before."""
    local, outs = bench.local, bench.outputs
    before = records_state(outs["RecordsTable"])
    started = time.perf_counter()
    report = local.stop()
    stop_s = time.perf_counter() - started
    progress(f"stop: {report.message} ({stop_s:.1f}s)")
    started = time.perf_counter()
    ops.start_local(bench.cloud, progress)
    start_s = time.perf_counter() - started
    loaded = local.status().get("loaded") or {}
    store = JobStore(outs["JobsTable"])
    after = {job_id: (store.get(job_id) or {}).get("status") for job_id in job_ids}
    again = records_state(outs["RecordsTable"], before["items"])
    same = _same_items(before["items"], again["items"])
    progress(
        f"start: {start_s:.1f}s; records {before['item_count']:,} before, {again['item_count']:,} after, "
        f"{len(before['items']):,} sampled items {'the same' if same else 'DIFFERENT'}; jobs {after}"
    )
    kept = report.saved and again["item_count"] == before["item_count"] and same
    kept = kept and all(status == "COMPLETE" for status in after.values())
    return {
        "stop_s": round(stop_s, 2),
        "start_s": round(start_s, 2),
        "saved": report.saved,
        "state_mb": round(float(loaded.get("bytes") or 0) / 1e6, 1),
        "empty_start_s": bench.start_s,
        "records_before": before["item_count"],
        "records_after": again["item_count"],
        "sampled_items": len(before["items"]),
        "sampled_items_same": same,
        "jobs_after": after,
        "job_status_after": ", ".join(sorted(set(map(str, after.values())))),
        "job_status": "COMPLETE" if kept else "NOT SAVED OR LOST",
    }


def _burst_rows(burst: dict[str, Any], label: str, reference: float | None, reference_text: str) -> list[RatioRow]:
    rows = []
    for stat in ("p50", "p95", "max"):
        value = burst["latency_s"][stat]
        text = f"{value:.2f} s ({burst['complete']}/{burst['files']} COMPLETE)" if value is not None else "—"
        measure = f"{label}: {stat} upload → COMPLETE"
        rows.append(ratio_row(SMALL_FILES, measure, value, reference, pipeline=text, reference=reference_text))
    if "all_queryable_s" in burst:
        value = burst["all_queryable_s"]
        text = "never" if value is None else f"{value:.2f} s (all COMPLETE after {burst['all_complete_s'] or 0:.2f} s)"
        rows.append(
            ratio_row(
                SMALL_FILES,
                f"{label}: first upload → all queryable in Athena",
                value,
                reference,
                pipeline=text,
                reference=reference_text,
            )
        )
    return rows


def _small_file_rows(small: dict[str, Any]) -> list[RatioRow]:
    """The burst's p50/p95/max against the raw round trip's p50 (else a 1-row file alone), and the 1-row file
    alone against the raw round trip: the pipeline's own cost per file with nothing queued."""
    alone, raw = small["single_file_s"], small.get("raw_round_trip_s") or {"error": "not run"}
    alone_text = f"1-row file alone p50 {alone['p50']:.2f} s ({alone['runs']} runs)" if alone["p50"] else "—"
    if raw.get("p50"):
        reference = raw["p50"]
        reference_text = f"raw S3 → SNS → SQS → Lambda p50 {raw['p50']:.2f} s ({raw['runs']} runs)"
    else:
        reference, reference_text = alone["p50"], f"{alone_text} (no raw round trip: {raw.get('error')})"
    rows = _burst_rows(small, f"{small['files']} small files at once", reference, reference_text)
    if under := small.get("under_load"):
        large = under["large"]
        label = f"{under['files']} small files beside a {large['rows']:,}-row file paging"
        rows += _burst_rows(under, label, reference, reference_text)
        rows.append(
            ratio_row(
                SMALL_FILES,
                f"the {large['rows']:,}-row file beside them ({large['pages']} pages, DynamoDB)",
                large["end_to_end_s"],
                None,
                pipeline=f"{large['end_to_end_s']:.1f} s, {large['rows_per_s'] or 0:,} rows/s, {large['job_status']}",
                reference="—",
            )
        )
    if raw.get("p50"):
        rows.append(
            ratio_row(
                SMALL_FILES,
                "1-row file alone: p50 upload → COMPLETE",
                alone["p50"],
                raw["p50"],
                pipeline=alone_text.removeprefix("1-row file alone p50 "),
                reference=reference_text,
            )
        )
    return rows


def ratio_rows(suites: dict[str, dict[str, Any]]) -> list[RatioRow]:
    """The ratio-table lines of the suites that ran."""
    rows: list[RatioRow] = []
    if small := suites.get(SMALL_FILES):
        rows += _small_file_rows(small)
    if s3 := suites.get(S3_ONLY):
        rows.append(
            ratio_row(
                S3_ONLY,
                f"S3-only dataset end to end ({s3['rows']:,} rows, {s3['pages']} pages)",
                s3["rows_per_s"],
                s3["duckdb_rows_per_s"],
                pipeline=f"{s3['end_to_end_s']:.1f} s, {s3['rows_per_s']:,} rows/s",
                reference=f"DuckDB read + day-partitioned CSV {s3['duckdb_s']:.2f} s, "
                f"{s3['duckdb_rows_per_s'] or 0:,} rows/s",
            )
        )
        if floor := s3.get("put_floor"):
            puts = s3["put_objects"]
            rows.append(
                ratio_row(
                    S3_ONLY,
                    "S3-only dataset against the local cloud's raw PutObject rate",
                    s3["rows_per_s"],
                    s3["put_floor_rows_per_s"],
                    pipeline=f"{s3['rows_per_s']:,} rows/s, {puts['objects']:,} PutObject of {puts['mean_bytes']:,} B "
                    "mean (pages, compaction, bookkeeping)",
                    reference=f"raw PutObject {floor['objects_per_s']:,} objects/s ({floor['threads']} writers, "
                    f"{floor['object_bytes']:,} B): those objects alone at {s3['put_floor_rows_per_s'] or 0:,} rows/s",
                )
            )
    if q := suites.get(QUERY):
        agrees = "= the job's valid rows" if q["matches_job"] else "≠ the job's valid rows"
        found = {"count": f"{q['athena_rows'] or 0:,} rows {agrees}", "group_by": f"{q['athena_groups']} days"}
        for what, label in (("count", "count(*)"), ("group_by", "GROUP BY dt")):
            rows.append(
                ratio_row(
                    QUERY,
                    f"Athena {label} over the S3-only output",
                    q[f"athena_{what}_s"],
                    q[f"duckdb_{what}_s"],
                    pipeline=f"{q[f'athena_{what}_s']:.2f} s, {found[what]}",
                    reference=f"DuckDB over the source file {q[f'duckdb_{what}_s']:.2f} s",
                )
            )
    if scale := suites.get(SCALE):
        from pipeline.tools.bench.scale import scale_rows

        rows += scale_rows(scale)
    if r := suites.get(RESTART):
        rows.append(
            ratio_row(
                RESTART,
                "`pipeline local stop` with the jobs' state",
                r["stop_s"],
                None,
                pipeline=f"{r['stop_s']:.1f} s, saved: {'yes' if r['saved'] else 'NO'}",
                reference="—",
            )
        )
        rows.append(
            ratio_row(
                RESTART,
                f"`pipeline local start` loading it ({r['state_mb']:,} MB)",
                r["start_s"],
                r["empty_start_s"],
                pipeline=f"{r['start_s']:.1f} s, jobs {r['job_status_after']} after"
                + (
                    f", {r['records_after']:,} of {r['records_before']:,} records, {r['sampled_items']:,} sampled "
                    f"items {'the same' if r['sampled_items_same'] else 'DIFFERENT'}"
                    if "records_after" in r
                    else ""
                ),
                reference=f"first start, empty state {r['empty_start_s']:.1f} s",
            )
        )
    return rows


def run_suites(
    names: list[str], rows: int, out: Path, progress: Progress, *, files: int = 100, scale: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run the named suites (not the default one) on one private local cloud, then `scale` (``scale``: its
    options) on clouds of its own; return their results."""
    out.mkdir(parents=True, exist_ok=True)
    suites: dict[str, dict[str, Any]] = {}
    shared = [name for name in names if name != SCALE]
    if shared:
        suites |= _shared_cloud_suites(shared, rows, out, progress, files)
    if SCALE in names:
        from pipeline.tools.bench.scale import run_scale

        suites[SCALE] = run_scale(out, progress, **(scale or {}))
    return suites


def _shared_cloud_suites(names: list[str], rows: int, out: Path, progress: Progress, files: int) -> dict[str, Any]:
    suites: dict[str, dict[str, Any]] = {}
    path = out / f"orders-{rows}.csv"
    if (S3_ONLY in names or SMALL_FILES in names) and not path.exists():
        write_orders(path, rows, seed=SEED)
        progress(f"generated {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB, seed {SEED})")
    parameters = {"PageRows": str(default_page_rows(rows))}
    with s3_only_schemas(out), private_cloud(out, progress, parameters=parameters) as bench:
        if SMALL_FILES in names:
            progress(f"small-files: {files} files of 1-1,000 rows at once, alone and beside the {rows:,}-row file")
            suites[SMALL_FILES] = small_files(bench, out, files, progress, large=path)
        if S3_ONLY in names:
            progress(f"s3-only: {rows:,} rows into {S3_DATASET} (x-dynamodb false)")
            suites[S3_ONLY] = s3_only(bench, path, progress)
        if QUERY in names:
            progress("query: Athena count(*) and GROUP BY dt vs DuckDB")
            suites[QUERY] = query(bench, path, suites[S3_ONLY])
        if RESTART in names:
            progress("restart: local stop and start with the state inside")
            large = suites.get(SMALL_FILES, {}).get("under_load", {}).get("large", {})
            job_ids = [suites[S3_ONLY]["job_id"], *([large["job_id"]] if large.get("job_id") else [])]
            suites[RESTART] = restart(bench, job_ids, progress)
    return suites


def bench_run(
    selected: list[str],
    rows: int,
    out: Path,
    progress: Progress,
    *,
    files: int = 100,
    scale: dict[str, Any] | None = None,
    **default: Any,
) -> dict[str, Any]:
    """The default suite (``default``: its options) if selected, then the others; one result, one bench.json
    and bench.md holding every ratio row."""
    if DEFAULT in selected:
        result = run(rows, out, progress, **default)
    else:
        result = {"version": 1, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(), "rows": rows}
    others = [name for name in selected if name != DEFAULT]
    if not others:
        return result
    result["suites"] = run_suites(others, rows, out, progress, files=files, scale=scale)
    result["machine"]["load_average_after"] = " ".join(f"{n:.1f}" for n in os.getloadavg())
    result["suite_rows"] = [row.as_dict() for row in ratio_rows(result["suites"])]
    (out / "bench.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "bench.md").write_text(markdown(result))
    return result
