"""`pipeline console` in headless Chromium against the e2e stack: live progress, the execution graph, a query.

Screenshots go to test-artifacts/console/; with UPDATE_DOCS_SCREENSHOT=1 the execution view is also written to
docs/console.png. Without /usr/bin/chromium (or Playwright) the browser test skips, except under CI=true.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import unique_prefix, upload_orders, wait_job

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "console"
DOCS_SCREENSHOT = REPO / "docs" / "console.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ROWS, START_ID = 20_000, 77_000_000  # 4 pages of 5,000 rows on the e2e stage
HAPPY_PATH = (
    "Page through file",
    "More pages to publish?",
    "Wait for every page",
    "Finalise job",
    "Announce job completed",
    "Job complete",
)
GREEN = "rgb(46,157,91)"  # the console's "succeeded" colour, #2e9d5b
WHOLE_NUMBER = re.compile(r"^\d{1,3}(,\d{3})*$")  # as the console prints counts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, with a fresh profile (checked before the stack deploys)."""
    missing = [] if CHROMIUM.exists() else [f"{CHROMIUM} (apt-get install -y chromium)"]
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[test]')")
    if missing:
        reason = "the console browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true, so this fails instead of skipping")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 960},
            accept_downloads=True,
        )
        try:
            yield context
        finally:
            context.close()


@contextmanager
def _console(*options: str) -> Iterator[str]:
    """`pipeline console --stage e2e` in a subprocess on a free port; yields its URL once it answers."""
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / f"console-server-{port}.log"
    command = [sys.executable, "-c", "from pipeline.cli.main import cli; cli()", "console", "--stage", "e2e"]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port), *options],
            env={**os.environ, "PIPELINE_LOCAL": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    with urllib.request.urlopen(url + "api/info", timeout=5) as response:
                        assert json.load(response)["stage"] == "e2e"
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the console did not start within 60 s"
                    time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def console_url(stack: dict[str, str]) -> Iterator[str]:
    """A read-only console on the e2e stage."""
    with _console() as url:
        yield url


@pytest.fixture(scope="module")
def failed_job(stack: dict[str, str], aws_clients: dict[str, Any]) -> dict[str, Any]:
    """A job that FAILED: a file for a dataset that has no schema."""
    key = f"customers/{unique_prefix()}/unknown.csv"
    aws_clients["s3"].put_object(Bucket=stack["IngestBucket"], Key=key, Body=b"a,b\n1,2\n")
    job = wait_job(stack, key, timeout=120)
    assert job["status"] == "FAILED", job
    return job


def _shot(page: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _watch_progress(row: Any, timeout: float) -> list[int]:
    """Every distinct percentage the row's progress bar shows until it reads 100."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    bar = row.locator("[role=progressbar]")
    while time.monotonic() < deadline:
        value = int(bar.get_attribute("aria-valuenow") or 0)
        if not seen or seen[-1] != value:
            seen.append(value)
        if value == 100:
            return seen
        time.sleep(0.25)
    raise AssertionError(f"progress stopped at {seen} after {timeout:.0f}s")


def test_console_follows_a_paged_file_shows_its_execution_and_queries_it(
    browser_context: Any,
    console_url: str,
    stack: dict[str, str],
    aws_clients: dict[str, Any],
    failed_job: dict[str, Any],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(console_url + "#/jobs")
    expect(page.locator("#mode")).to_have_text("read-only")

    # Jobs: the upload appears without a reload and its progress bar reaches 100%.
    key, counts = upload_orders(aws_clients, stack, tmp_path, ROWS, start_id=START_ID, seed=41)
    row = page.locator(f'#jobs-table tr[data-key="{key}"]')
    expect(row).to_be_visible(timeout=120_000)
    _shot(page, "01-jobs-live")
    seen = _watch_progress(row, timeout=600)
    print(f"progress bar showed {seen}")
    expect(row).to_have_attribute("data-status", "COMPLETE", timeout=30_000)
    expect(row.locator('[data-field="rows_valid"]')).to_have_text(f"{counts['valid']:,}")
    expect(row.locator('[data-field="rows_rejected"]')).to_have_text(f"{counts['invalid']:,}")
    job = wait_job(stack, key)
    assert job["mode"] == "paged" and job["pages_total"] == 4, job
    _shot(page, "02-jobs-complete")
    page.locator("#f-status").select_option("FAILED")  # filters apply at once and land in the address
    expect(row).to_have_count(0)
    expect(page.locator(f'#jobs-table tr[data-job="{failed_job["job_id"]}"]')).to_be_visible()
    assert "status=FAILED" in page.url
    page.locator("#f-status").select_option("")
    page.locator("#f-dataset").select_option("orders")
    expect(row).to_be_visible()
    expect(page.locator(f'#jobs-table tr[data-job="{failed_job["job_id"]}"]')).to_have_count(0)

    # The job's page: counts, outputs, first rejects with reasons, a link to its execution.
    row.locator("a").first.click()
    expect(page.locator("#job h1")).to_have_text("orders.csv")
    expect(page.locator('#job [data-field="rows_input"]')).to_have_text(f"{ROWS:,}")
    expect(page.locator("[data-testid=reject]")).to_have_count(min(25, counts["invalid"]))
    _shot(page, "03-job")

    # The execution: every state it ran is green, the rest not reached; clicking a state shows its input and output.
    page.locator("[data-testid=execution-link]").first.click()
    expect(page.locator("[data-testid=execution-status] [data-status]")).to_have_attribute(
        "data-status", "SUCCEEDED", timeout=60_000
    )
    page.wait_for_function("() => window.__console.graph && window.__console.graph.nodes().length > 2")
    nodes = page.evaluate(
        """() => window.__console.graph.nodes().map(n => ({
            id: n.id(), status: n.data('status'), colour: n.style('background-color').replaceAll(' ', '')}))"""
    )
    by_id = {n["id"]: n for n in nodes}
    for state in HAPPY_PATH:
        assert by_id[state]["status"] == "succeeded" and by_id[state]["colour"] == GREEN, by_id[state]
    assert {n["status"] for n in nodes} <= {"succeeded", "not_reached"}, nodes
    label = page.evaluate("() => window.__console.graph.getElementById('Page through file').data('label')")
    assert "× 1 iteration" in label, label
    timeline = page.locator("[data-testid=timeline-row]")
    assert timeline.count() >= 5
    assert {timeline.nth(i).get_attribute("data-status") for i in range(timeline.count())} == {"succeeded"}
    position = page.evaluate("() => window.__console.graph.getElementById('Wait for every page').renderedPosition()")
    box = page.locator("#graph").bounding_box()
    page.mouse.click(box["x"] + position["x"], box["y"] + position["y"])
    detail = page.locator("[data-testid=state-detail]")
    expect(detail.locator("h2")).to_have_text("Wait for every page")
    expect(detail).to_contain_text("Input")
    expect(detail).to_contain_text("Output")
    expect(detail).to_contain_text(job["job_id"])
    execution_shot = _shot(page, "04-execution")
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        shutil.copyfile(execution_shot, DOCS_SCREENSHOT)

    # Query: the same Athena path as `pipeline query`; the count matches, and the CSV download holds it.
    page.goto(console_url + "#/query")
    hi = f"ORD-{START_ID + ROWS - 1:08d}"
    page.locator("[data-testid=sql]").fill(
        f"SELECT count(*) AS n FROM orders WHERE order_id BETWEEN 'ORD-{START_ID:08d}' AND '{hi}'"
    )
    page.locator("[data-testid=run]").click()
    expect(page.locator("[data-testid=result] tbody td")).to_have_text(str(counts["valid"]), timeout=120_000)
    with page.expect_download() as download:
        page.locator("[data-testid=download]").click()
    csv_path = ARTIFACTS / "query.csv"
    download.value.save_as(str(csv_path))
    assert csv_path.read_text().splitlines() == ["n", str(counts["valid"])]
    _shot(page, "05-query")

    # Health: dead-letter depth, failed jobs, and redrive disabled in a read-only console.
    page.goto(console_url + "#/health")
    expect(page.locator("[data-testid=dlq-depth]")).to_have_text(WHOLE_NUMBER, timeout=30_000)
    expect(page.locator("[data-testid=redrive-note]")).to_contain_text("--allow-writes")
    expect(page.locator(f'tr[data-job="{failed_job["job_id"]}"] button[data-redrive]')).to_be_disabled()
    _shot(page, "06-health")
    assert not errors, errors
    print(f"console test took {time.monotonic() - started:.1f}s; screenshots in {ARTIFACTS}")


def _request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    method = "POST" if data is not None else "GET"
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_console_refuses_writes_cross_origin_posts_and_foreign_hosts(console_url: str) -> None:
    json_post = {"Content-Type": "application/json"}
    status, body = _request(console_url + "api/query", b'{"sql": "DROP TABLE orders"}', json_post)
    assert status == 422 and "read-only" in body["error"]
    status, body = _request(console_url + "api/jobs/anything/redrive", b'{"confirm": "anything"}', json_post)
    assert status == 403 and "--allow-writes" in body["error"]
    status, _ = _request(console_url + "api/query", b'{"sql": "SELECT 1"}', {**json_post, "Origin": "http://evil.test"})
    assert status == 403
    status, _ = _request(console_url + "api/info", headers={"Host": "evil.test"})
    assert status == 403
    status, body = _request(console_url + "api/executions/no-such-execution")
    assert status == 404, body
    with urllib.request.urlopen(console_url + "static/vendor/LICENSE.cytoscape", timeout=10) as response:
        assert b"Permission is hereby granted" in response.read()


def test_redrive_needs_allow_writes_and_a_confirmation(
    browser_context: Any, stack: dict[str, str], failed_job: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    with _console("--allow-writes") as url:
        page = browser_context.new_page()
        page.goto(url + "#/health")
        expect(page.locator("#mode")).to_have_text("writes allowed")
        button = page.locator(f'tr[data-job="{failed_job["job_id"]}"] button[data-redrive]')
        expect(button).to_be_enabled(timeout=30_000)
        button.click()
        dialog = page.locator("[data-testid=confirm]")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text(failed_job["job_id"])
        dialog.locator("button[value=cancel]").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#redrive-result")).to_be_empty()
        button.click()
        _shot(page, "07-redrive-confirm")
        page.locator("[data-testid=confirm-redrive]").click()
        expect(page.locator("#redrive-result")).to_contain_text("Redrive started", timeout=120_000)
        expect(page.locator("#redrive-result")).to_contain_text("reprocessed")
        _shot(page, "08-redrive-done")
        status, body = _request(
            url + f"api/jobs/{failed_job['job_id']}/redrive", b"{}", {"Content-Type": "application/json"}
        )
        assert status == 400 and "confirm" in body["error"]
