"""What the local cloud's state costs as it grows: memory per DynamoDB item, checkpoint, stop and start times.

Usage: python benchmarks/local_state.py [--objects N] [--baseline] ITEMS [ITEMS ...]

For each size, a private local cloud (fresh state dir, free port, periodic checkpoints off) is filled over HTTP
with ITEMS orders rows as the pipeline writes them (its pre-built `BatchWriteItem` bodies, 8 writers) and
N small S3 objects; then it measures the server's resident memory, one checkpoint (`pipeline local stop` of a
changed cloud writes one: a fork()ed child, whose peak private memory is sampled from /proc), the stop, and the
start that loads the state back. `--baseline` also times MiniStack's own shutdown save on the same data
(`python -m ministack` with PERSIST_STATE=1, as the local cloud ran before checkpoints). Results are printed
as a Markdown table and written to bench-results/local-state.json. Note the machine load (`uptime`) with them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PAGE = 50_000
TABLE = "state-bench-records"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _private_dirty(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _items(rows: int) -> Any:
    """Wire JSON of ``rows`` orders items, page by page, as the page processors build them."""
    from pipeline.runtime.contract import load_contract
    from pipeline.runtime.rows.parse import parse_page
    from pipeline.runtime.rows.store_rules import apply_store_rules
    from pipeline.runtime.rows.validate import validate_page
    from pipeline.runtime.sinks.dynamodb import encode_items
    from pipeline.tools.bench.references import pages
    from pipeline.tools.sample import write_orders

    contract = load_contract("orders")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        write_orders(path, rows, seed=42)
        for body, header, first_line in pages(path, PAGE):
            parsed = parse_page(body, header, first_line=first_line)
            validated = apply_store_rules(validate_page(parsed, contract), parsed, contract)
            yield encode_items(validated.table, contract, "state-bench", validated.lines)


def _fill(endpoint: str, rows: int, objects: int) -> int:
    import boto3

    from pipeline.runtime.sinks.dynamodb import _request_bodies, send_batch

    ddb = boto3.client("dynamodb", endpoint_url=endpoint)
    ddb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    written = 0
    with ThreadPoolExecutor(8) as pool:
        for items in _items(rows):
            bodies = _request_bodies(TABLE, items)
            assert not sum(len(u) for u in pool.map(lambda b: send_batch(TABLE, b), bodies))
            written += len(items)
        if objects:
            s3 = boto3.client("s3", endpoint_url=endpoint)
            s3.create_bucket(Bucket="state-bench-objects")
            body = b"x" * 1024

            def put(i: int) -> None:
                s3.put_object(Bucket="state-bench-objects", Key=f"o/{i:08d}", Body=body)

            list(pool.map(put, range(objects)))
    return int(ddb.describe_table(TableName=TABLE)["Table"]["ItemCount"]) or written


def _sample_child_memory(state: Path, stop: threading.Event, peak: dict[str, int]) -> None:
    """Peak private memory of the checkpoint writer (its pid is in saving.json) while it runs.

    Reading smaps_rollup walks the writer's page tables under its memory-map lock, which stalls the writer's
    own allocations (0.5 s a read at a million items on a loaded machine): the sampler waits 20 times as long
    as a read took, so that it slows the writer by 5 % at most.
    """
    pause = 0.1
    while not stop.is_set():
        try:
            pid = int(json.loads((state / "saving.json").read_text()).get("pid") or 0)
        except (OSError, ValueError):
            pid = 0
        if pid:
            started = time.monotonic()
            peak["child_private"] = max(peak.get("child_private", 0), _private_dirty(pid))
            pause = max(0.1, 20 * (time.monotonic() - started))
        stop.wait(pause)


def measure(rows: int, objects: int) -> dict[str, Any]:
    """One size, on a fresh private local cloud: fill, memory, stop (one checkpoint), start."""
    from pipeline.tools.local import LocalCloud

    state = Path(tempfile.mkdtemp(prefix="pipeline-state-bench-"))
    os.environ["PIPELINE_CHECKPOINTS"] = "off"  # the stop writes the one checkpoint measured here
    cloud = LocalCloud(state, _free_port())
    cloud.activate()
    try:
        cloud.start()
        base = _rss(cloud.pid() or 0)
        started = time.monotonic()
        items = _fill(cloud.endpoint, rows, objects)
        fill_s = time.monotonic() - started
        pid = cloud.pid() or 0
        resident = _rss(pid)
        stop_event, peak = threading.Event(), {}
        sampler = threading.Thread(target=_sample_child_memory, args=(state, stop_event, peak), daemon=True)
        sampler.start()
        started = time.monotonic()
        report = cloud.stop()
        stop_s = time.monotonic() - started
        stop_event.set()
        final = cloud.status().get("final") or {}
        started = time.monotonic()
        cloud.start()
        start_s = time.monotonic() - started
        start_cpu = _cpu_seconds(cloud.pid() or 0)
        loaded = _rss(cloud.pid() or 0)
        cloud.stop(force=True)
        return {
            "items": items,
            "objects": objects,
            "fill_s": round(fill_s, 1),
            "server_rss_bytes": resident,
            "server_base_rss_bytes": base,
            "bytes_per_item": round((resident - base) / max(items, 1)),
            "checkpoint_s": final.get("seconds"),
            "checkpoint_cpu_s": final.get("cpu_seconds"),
            "checkpoint_bytes": final.get("bytes"),
            "checkpoint_child_private_bytes": peak.get("child_private", 0),
            "stop_s": round(stop_s, 1),
            "stop": report.message,
            "start_s": round(start_s, 1),
            "start_cpu_s": round(start_cpu, 1),
            "rss_after_start_bytes": loaded,
        }
    finally:
        if cloud.pid():
            cloud.stop(force=True)
        shutil.rmtree(state, ignore_errors=True)


def baseline(rows: int, objects: int) -> dict[str, Any]:
    """MiniStack's own shutdown save (SIGTERM, wait for the process to exit) on the same data."""
    from pipeline.tools.local.server import LocalCloud

    state = Path(tempfile.mkdtemp(prefix="pipeline-state-baseline-"))
    port = _free_port()
    env = LocalCloud(state, port)._server_environment() | {"STATE_DIR": str(state / "ministack")}
    with (state / "ministack.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ministack"], env=env, stdout=log, stderr=log, start_new_session=True, cwd=state
        )
    try:
        cloud = LocalCloud(state, port)
        cloud.activate()
        while not cloud.ready():
            time.sleep(0.25)
        items = _fill(cloud.endpoint, rows, objects)
        resident = _rss(process.pid)
        cpu_before = _cpu_seconds(process.pid)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0
        return {
            "items": items,
            "ministack_rss_bytes": resident,
            "ministack_stop_s": round(time.monotonic() - started, 1),
            "ministack_stop_cpu_s": round(usage.ru_utime + usage.ru_stime - cpu_before, 1),
            "ministack_saved_files": len(list((state / "ministack").glob("*.json"))),
        }
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(state, ignore_errors=True)


def _row(result: dict[str, Any]) -> str:
    gb = 1e9
    own = "—"
    if "ministack_stop_s" in result:
        own = f"{result['ministack_stop_s']} s ({result['ministack_stop_cpu_s']} s CPU)"
    cells = [
        f"{result['items']:,}",
        f"{result['objects']:,}",
        f"{result['server_rss_bytes'] / gb:.2f} GB",
        f"{result['bytes_per_item']:,}",
        f"{result['checkpoint_bytes'] / 1e6:,.0f} MB",
        f"{result['checkpoint_s']:.1f} s ({result['checkpoint_cpu_s']:.1f} s CPU)",
        f"{result['checkpoint_child_private_bytes'] / gb:.2f} GB",
        f"{result['stop_s']:.1f} s",
        f"{result['start_s']:.1f} s ({result['start_cpu_s']:.1f} s CPU)",
        own,
        f"{result['load_average_before']} → {result['load_average']}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("items", type=int, nargs="+")
    parser.add_argument("--objects", type=int, default=0, help="Small S3 objects to add (default 0).")
    parser.add_argument("--baseline", action="store_true", help="Also time MiniStack's own shutdown save.")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child run of one size
    args = parser.parse_args()
    if args.one:
        result = measure(args.items[0], args.objects)
        if args.baseline:
            result |= baseline(args.items[0], args.objects)
        print(json.dumps(result))
        return
    load = os.getloadavg()
    print(f"load average {load[0]:.1f}, {os.cpu_count()} cores", file=sys.stderr)
    results = []
    for rows in args.items:  # each size in a fresh process: no memory carried over between sizes
        command = [sys.executable, __file__, "--one", str(rows), "--objects", str(args.objects)]
        command += ["--baseline"] if args.baseline else []
        before = round(os.getloadavg()[0], 1)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        loads = {"load_average_before": before, "load_average": round(os.getloadavg()[0], 1)}
        results.append(json.loads(out.strip().splitlines()[-1]) | loads)
        print(json.dumps(results[-1]), file=sys.stderr)
    print(
        "| DynamoDB items | S3 objects | server memory | bytes/item | checkpoint size | checkpoint | "
        "checkpoint writer peak | stop | start | MiniStack's own stop | load before → after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results:
        print(_row(result))
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "local-state.json").write_text(json.dumps({"load_average": load, "results": results}, indent=2))


if __name__ == "__main__":
    main()
