"""Bad saved state of the local cloud, driven through the CLI: it explains, heals, refuses or falls back, in one
line each, and never prints a traceback.

On a local cloud of its own (small: one stage, a few thousand rows), separate from the session's cloud.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from pipeline.tools.local.generations import GenerationStore, Manifest, now_iso
from pipeline.tools.sample import write_orders
from tests.e2e.conftest import _free_port, cli_ok, run_cli

pytestmark = pytest.mark.e2e

STAGE = "state"



def _client(env: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{env['PIPELINE_LOCAL_PORT']}",
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _root(env: dict[str, str]) -> Path:
    return Path(env["PIPELINE_STATE_DIR"]) / "ministack"


def _environment(state: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PIPELINE_STATE_DIR": str(state),
        "PIPELINE_LOCAL_PORT": str(_free_port()),
        "PIPELINE_LOCAL": "1",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    return env


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = _environment(tmp_path_factory.mktemp("state-cloud"))
    cli_ok(run_cli(env, "deploy", "--stage", STAGE))
    yield env
    run_cli(env, "local", "stop", "--force")


def _ingest(env: dict[str, str], tmp_path: Path, name: str, rows: int) -> dict[str, Any]:
    path = tmp_path / name
    write_orders(path, rows, seed=4, start_id=70_000_000)
    key = f"orders/state/{name}"
    ingest = ["ingest", str(path), "--dataset", "orders", "--key", key, "--wait", "--json", "--stage", STAGE]
    job = json.loads(cli_ok(run_cli(env, *ingest)))
    assert job["status"] == "COMPLETE", job
    return job


def test_two_starts_at_once_one_wins_the_other_says_it_is_running(cloud: dict[str, str]) -> None:
    cli_ok(run_cli(cloud, "local", "stop"))
    command = [str(Path(sys.executable).with_name("pipeline")), "local", "start"]
    runs = [subprocess.Popen(command, env=cloud, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    runs.append(subprocess.Popen(command, env=cloud, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = sorted(out for out, _ in outputs)
    assert said[0].startswith("local cloud already running at"), said
    assert said[1].startswith("local cloud started at"), said
    status = json.loads(cli_ok(run_cli(cloud, "local", "status", "--json")))
    assert status["running"] and status["pid"]


def test_a_stop_saves_and_a_start_loads_what_changed(cloud: dict[str, str], tmp_path: Path) -> None:
    job = _ingest(cloud, tmp_path, "saved.csv", 2_000)
    stopped = cli_ok(run_cli(cloud, "local", "stop"))
    assert stopped.startswith("local cloud stopped;"), stopped
    started = cli_ok(run_cli(cloud, "local", "start"))
    assert "loaded its saved state (generation" in started
    jobs = json.loads(cli_ok(run_cli(cloud, "jobs", "--stage", STAGE, "--json")))
    assert any(j["job_id"] == job["job_id"] and j["status"] == "COMPLETE" for j in jobs)
    stopped = cli_ok(run_cli(cloud, "local", "stop"))
    assert "nothing changed since generation" in stopped, stopped  # reading jobs changes nothing


def test_stop_force_kills_and_says_what_is_lost(cloud: dict[str, str]) -> None:
    cli_ok(run_cli(cloud, "local", "start"))
    _client(cloud, "sqs").create_queue(QueueName="made-just-before-the-kill")
    time.sleep(0.6)  # the server has counted the change, and not yet checkpointed it (10 s of quiet)
    killed = cli_ok(run_cli(cloud, "local", "stop", "--force"))
    assert killed.startswith("local cloud killed (--force); 1 change(s) made after the last checkpoint are lost;")
    cli_ok(run_cli(cloud, "local", "start"))
    queues = _client(cloud, "sqs").list_queues().get("QueueUrls", [])
    assert not any(q.endswith("made-just-before-the-kill") for q in queues)  # lost, as it said


def test_a_damaged_newest_generation_is_set_aside_and_the_one_before_loads(
    cloud: dict[str, str], tmp_path: Path
) -> None:
    cli_ok(run_cli(cloud, "local", "start"))
    job = _ingest(cloud, tmp_path, "before-damage.csv", 1_000)
    cli_ok(run_cli(cloud, "local", "stop"))
    cli_ok(run_cli(cloud, "local", "start"))
    _client(cloud, "sqs").create_queue(QueueName="in-the-damaged-generation")
    cli_ok(run_cli(cloud, "local", "stop"))
    newest = GenerationStore(_root(cloud)).current()
    assert newest is not None
    damaged = newest.path / "dynamodb.json"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # as a disk error would leave it

    started = cli_ok(run_cli(cloud, "local", "start"))

    assert f"the newest saved state is damaged ({newest.name}: dynamodb.json is 1,000 bytes" in started
    assert "changes after that time are lost" in started
    assert (_root(cloud) / f"broken-{newest.name}").is_dir()
    jobs = json.loads(cli_ok(run_cli(cloud, "jobs", "--stage", STAGE, "--json")))
    assert any(j["job_id"] == job["job_id"] and j["status"] == "COMPLETE" for j in jobs)
    assert json.loads(cli_ok(run_cli(cloud, "reconcile", job["job_id"], "--stage", STAGE, "--json")))["ok"]


def test_state_written_by_a_newer_ministack_is_refused_in_one_line(cloud: dict[str, str]) -> None:
    cli_ok(run_cli(cloud, "local", "stop"))
    store = GenerationStore(_root(cloud))
    base = store.current()
    assert base is not None
    partial = store.begin()
    store.clone_into(partial, base, skip={"sqs.json"})
    (partial / "sqs.json").write_text(json.dumps({"__ministack_format__": 99, "payload": {}}))
    number = int(partial.name.removeprefix("gen-").removesuffix(".partial"))
    newer = store.commit(partial, Manifest(number, now_iso(), "9.0.0"))
    before = sorted((str(p), p.stat().st_size) for p in _root(cloud).rglob("*") if p.is_file())

    refused = run_cli(cloud, "local", "start")

    assert refused.returncode == 1
    assert "Traceback" not in refused.stdout + refused.stderr
    assert refused.stderr.strip() == (
        f"error: the state in {cloud['PIPELINE_STATE_DIR']} was written by MiniStack 9.0.0, newer than this one: "
        "sqs (format 99, this MiniStack reads 2); install that MiniStack version again, or start with another "
        "PIPELINE_STATE_DIR; nothing was changed"
    )
    assert sorted((str(p), p.stat().st_size) for p in _root(cloud).rglob("*") if p.is_file()) == before
    shutil.rmtree(newer.path)  # back to the state this MiniStack wrote
    os.remove(store.current_link)
    os.symlink(base.name, store.current_link)
    cli_ok(run_cli(cloud, "local", "start"))


def test_the_state_dir_of_the_issue_is_explained_and_repaired(cloud: dict[str, str], tmp_path: Path) -> None:
    """A save cut short after the first service files (acm ... cognito): a stack recorded, its resources gone."""
    cli_ok(run_cli(cloud, "local", "start"))
    job = _ingest(cloud, tmp_path, "before-the-cut.csv", 2_000)
    cli_ok(run_cli(cloud, "local", "stop"))
    root = _root(cloud)
    current = GenerationStore(root).current()
    assert current is not None
    shutil.move(root, tmp_path / "full-state")
    root.mkdir()
    saved = sorted(p.name for p in (tmp_path / "full-state" / current.name).glob("*.json") if p.name != "manifest.json")
    for name in saved:
        if name > "cognito.json":
            break
        shutil.copy(tmp_path / "full-state" / current.name / name, root / name)
    assert (root / "cloudformation.json").exists() and not (root / "dynamodb.json").exists()

    started = run_cli(cloud, "local", "start")

    out = cli_ok(started)
    assert f"stack pipeline-{STAGE} is recorded but" in out
    assert f"(tables pipeline-{STAGE}-jobs, pipeline-{STAGE}-records;" in out
    assert "the local cloud's saved state was incomplete" in out
    assert f"lost: table(s) pipeline-{STAGE}-jobs, pipeline-{STAGE}-records" in out
    ingest_bucket = f"pipeline-{STAGE}-ingest-000000000000-us-east-1"
    assert f"object(s) in {ingest_bucket}" in out
    assert _client(cloud, "s3").head_object(Bucket=ingest_bucket, Key=job["key"])  # the raw upload was kept
    jobs = json.loads(cli_ok(run_cli(cloud, "jobs", "--stage", STAGE, "--json")))
    assert jobs == []  # the job records: lost, as said
    again = _ingest(cloud, tmp_path, "after-the-repair.csv", 2_000)  # and the pipeline works again
    assert json.loads(cli_ok(run_cli(cloud, "reconcile", again["job_id"], "--stage", STAGE, "--json")))["ok"]
    cli_ok(run_cli(cloud, "local", "stop"))
    started = cli_ok(run_cli(cloud, "local", "start"))
    assert "is recorded but" not in started  # repaired for good


@pytest.fixture
def generations_on_a_tmpfs(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """A cloud whose saved generations live on a tmpfs of their own, so it can be made read-only mid-run (root)."""
    if os.geteuid() != 0:
        pytest.skip("remounting a tmpfs read-only needs root")
    env = _environment(tmp_path / "state")
    disk = _root(env)
    disk.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], check=False).returncode:
        pytest.skip("tmpfs cannot be mounted here")
    try:
        yield env, disk
    finally:
        run_cli(env, "local", "stop", "--force")
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _wait_status(env: dict[str, str], done: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not done(status := json.loads(cli_ok(run_cli(env, "local", "status", "--json")))):
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    return status


def test_a_save_target_turned_read_only_keeps_the_last_generation_and_says_so(
    generations_on_a_tmpfs: tuple[dict[str, str], Path],
) -> None:
    env, disk = generations_on_a_tmpfs
    cli_ok(run_cli(env, "local", "start"))
    sqs = _client(env, "sqs")
    sqs.create_queue(QueueName="saved-before")
    saved = _wait_status(env, lambda s: s["state"]["changes_since_saved"] == 0 and s["state"]["saved_generation"])
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    try:
        sqs.create_queue(QueueName="made-while-read-only")
        failed = _wait_status(env, lambda s: any("the last checkpoint failed" in w for w in s["warnings"]))
        assert any("Read-only file system" in w for w in failed["warnings"]), failed["warnings"]
        warned = run_cli(env, "local", "status")
        assert "warning: the last checkpoint failed: " in warned.stderr and "Traceback" not in warned.stderr

        stopped = run_cli(env, "local", "stop")
        assert stopped.returncode == 1 and "Traceback" not in stopped.stdout + stopped.stderr
        assert "local cloud stopped but could NOT save its state: " in stopped.stdout
        assert f"it will load generation {saved['state']['saved_generation']}" in stopped.stdout
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    cli_ok(run_cli(env, "local", "start"))
    names = {q.rsplit("/", 1)[-1] for q in _client(env, "sqs").list_queues().get("QueueUrls", [])}
    assert "saved-before" in names and "made-while-read-only" not in names  # as it said
