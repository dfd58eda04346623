"""`pipeline console` in headless Chromium against the e2e stack: live progress, the execution graph, a query.

Screenshots go to test-artifacts/console/; with UPDATE_DOCS_SCREENSHOT=1 the execution view is also written to
docs/console.png. Without /usr/bin/chromium (or Playwright) the browser test skips, except under CI=true.
"""

from __future__ import annotations

import csv
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
    "Compact job output",
    "Compaction finished?",
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
    command = [sys.executable, "-c", "from pipeline.tools.cli.main import cli; cli()", "console", "--stage", "e2e"]
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
    assert list(csv.reader(csv_path.open(newline=""))) == [["n"], [str(counts["valid"])]]
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


# ------------------------------------------------------------------ the query box and the API under bad input

JSON_POST = {"Content-Type": "application/json"}


def _query(url: str, sql: Any) -> tuple[int, dict[str, Any]]:
    return _request(url + "api/query", json.dumps({"sql": sql}).encode(), JSON_POST)


def test_the_reviews_attacks_are_refused_and_write_no_host_file(
    console_url: str, stack: dict[str, str], tmp_path: Path
) -> None:
    """The statements that wrote and read host files through the local engine are refused; the engine would run them."""
    from pipeline.tools.query import run_query

    attacks = [
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '{tmp_path}/explained.csv'",
        f"SELECT E'\\'' ; COPY (SELECT 2 AS a) TO '{tmp_path}/smuggled.csv' --'",
        f"SELECT 1 /* /* */ ; COPY (SELECT 3 AS a) TO '{tmp_path}/nested.csv' ; /* */",
        f"WITH x AS (SELECT 1) SELECT * FROM x; COPY (SELECT 4 AS a) TO '{tmp_path}/chained.csv'",
        f"SELECT $$ ; COPY (SELECT 5 AS a) TO '{tmp_path}/dollar.csv' ; $$",
        f"COPY (SELECT 6 AS a) TO '{tmp_path}/copied.csv'",
        "SELECT read_text('/etc/passwd')",
        "SELECT content FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('/*')",
        "SELECT * FROM '/etc/passwd'",
        f"ATTACH '{tmp_path}/attached.db' AS x",
        "INSTALL httpfs",
        "PRAGMA version",
        "SET home_directory = '/tmp'",
    ]
    for sql in attacks:
        status, body = _query(console_url, sql)
        assert status == 422 and body["kind"] == "NotReadOnlyError", (sql, status, body)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # what the console stands between: the local engine itself runs such statements against the host
    canary = tmp_path / "canary.csv"
    run_query(
        f"COPY (SELECT 7 AS a) TO '{canary}'",
        database=stack["GlueDatabase"],
        workgroup=stack["AthenaWorkGroup"],
        output_location=stack["AthenaResultLocation"],
    )
    assert canary.read_text().split() == ["a", "7"]


def test_legitimate_queries_run_as_the_checked_text(console_url: str) -> None:
    """Queries pass the guard and run on the local engine; what ran is sqlglot's text, with the row cap."""
    runs = {
        "SELECT count(*) AS n FROM orders": ["n"],
        "-- how many?\nselect status, count(*) AS n from ORDERS group by status order by 2; -- end": ["status", "n"],
        "WITH d AS (SELECT dt, sum(amount) AS s FROM orders GROUP BY dt) SELECT * FROM d ORDER BY s DESC LIMIT 3": [
            "dt",
            "s",
        ],
        "SELECT x, 'it''s' AS q FROM UNNEST(ARRAY[1, 2, 3]) AS t(x)": ["x", "q"],
        "EXPLAIN SELECT count(*) FROM orders": ["explain_key", "explain_value"],
    }
    for sql, columns in runs.items():
        status, body = _query(console_url, sql)
        assert status == 200, (sql, body)
        assert body["columns"] == columns and body["truncated"] is False, body
        assert "--" not in body["ran"], body["ran"]
    status, body = _query(console_url, "select status, count(*) AS n from ORDERS group by status order by 2 desc")
    assert body["ran"] == "SELECT status, COUNT(*) AS n FROM orders GROUP BY status ORDER BY 2 DESC LIMIT 50001"


def test_the_row_cap_applies_before_the_rows_are_fetched(console_url: str, stack: dict[str, str]) -> None:
    """62,500 rows: the console returns 50,000 and says so, and run_query stops paging at its cap."""
    import pyathena.result_set

    from pipeline.tools.query import run_query

    values = ", ".join(f"({i})" for i in range(250))
    sql = f"WITH v AS (SELECT * FROM (VALUES {values}) AS t(x)) SELECT a.x, b.x AS y FROM v AS a CROSS JOIN v AS b"
    status, body = _query(console_url, sql)
    assert status == 200, body
    assert (body["row_count"], len(body["rows"]), body["truncated"], body["row_cap"]) == (50_000, 50_000, True, 50_000)
    assert body["ran"].endswith("LIMIT 50001")

    pages: list[int] = []
    fetch = pyathena.result_set.AthenaResultSet._get_query_results

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        pages.append(1)
        return fetch(self, *args, **kwargs)

    pyathena.result_set.AthenaResultSet._get_query_results = counted
    try:
        kwargs = {
            "database": stack["GlueDatabase"],
            "workgroup": stack["AthenaWorkGroup"],
            "output_location": stack["AthenaResultLocation"],
        }
        capped = run_query(sql, max_rows=2_500, **kwargs)  # no LIMIT in this SQL: only the fetch loop stops
        capped_pages, pages[:] = len(pages), []
        whole = run_query(sql, **kwargs)
    finally:
        pyathena.result_set.AthenaResultSet._get_query_results = fetch
    assert (len(capped.rows), capped.truncated) == (2_500, True)
    assert capped_pages <= 4, capped_pages  # 1,000 rows a page: 2,501 rows need 3 (4 with the metadata page)
    assert (len(whole.rows), whole.truncated, len(pages) >= 63) == (62_500, False, True)
    assert capped.rows == whole.rows[:2_500]


def test_every_endpoint_answers_bad_parameters_with_a_4xx(console_url: str) -> None:
    gets = {
        "api/jobs?status=NOPE&dataset=%00": 200,
        "api/jobs?status=&dataset=&status=x": 200,
        "api/jobs/%00": 404,
        "api/jobs/zzzzzzzz": 404,
        "api/jobs/" + "a" * 3000: 404,
        "api/jobs/%ff%fe": 404,
        "api/jobs/..%2f..%2f": 404,
        "api/executions/%00": 404,
        "api/executions/no-such-execution-0": 404,
        "api/executions/a:b": 404,
        "api/executions/" + "b" * 200: 404,
        "api/info?x=%00": 200,
        "api/health?x=1": 200,
        "api/nothing": 404,
        "api/jobs/x/redrive": 405,
    }
    for path, expected in gets.items():
        status, body = _request(console_url + path)
        assert status == expected, (path, status, body)
        assert status == 200 or isinstance(body.get("error"), str), (path, body)
    posts = {
        b"{}": 422,
        b'{"sql": ""}': 422,
        b'{"sql": null}': 422,
        b'{"sql": 5}': 400,
        b'{"sql": {"a": 1}}': 400,
        b'{"sql": "SELECT * FROM nope"}': 422,
        b'{"sql": "SELECT no_such_column FROM orders"}': 422,
        b'{"sql": "SELECT 1", "extra": [1, 2]}': 200,
    }
    for data, expected in posts.items():
        status, body = _request(console_url + "api/query", data, JSON_POST)
        assert status == expected, (data, status, body)
    status, body = _request(console_url + "api/query", b'{"sql": "SELECT no_such_column FROM orders"}', JSON_POST)
    assert body["kind"] == "QueryError" and "no_such_column" in body["error"], body
    for data in (b'{"confirm": 5}', b"{}", b'{"confirm": null}'):
        status, body = _request(console_url + "api/jobs/zzzz/redrive", data, JSON_POST)
        assert status == 403, body  # read-only: refused before anything else
    with _console("--allow-writes") as url:
        for job, data, expected in (
            ("zzzzzzzz", b'{"confirm": "zzzzzzzz"}', 404),
            ("%00", b'{"confirm": 1}', 404),
            ("a" * 3000, b"{}", 404),
        ):
            status, body = _request(url + f"api/jobs/{job}/redrive", data, JSON_POST)
            assert status == expected, (job, status, body)


FORMULA_START = tuple("=+-@\t\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def test_the_csv_download_has_no_live_formula(browser_context: Any, console_url: str) -> None:
    """Cells a spreadsheet would run (= + - @ TAB CR) start with a quote; numbers stay numbers (read by Python csv)."""
    from playwright.sync_api import expect

    page = browser_context.new_page()
    page.goto(console_url + "#/query")
    page.locator("[data-testid=sql]").fill(
        "SELECT '=HYPERLINK(''http://attacker.test'',''open'')' AS link, '@SUM(1+1)' AS at, '+1+1' AS plus, "
        "'-1+1' AS minus, chr(9) || '=1' AS tab, chr(13) || '=1' AS cr, -5 AS negative, '-5' AS negative_text, "
        "2.5 AS number, 'a \"quoted\", text' AS text, 1 AS \"=header\""
    )
    page.locator("[data-testid=run]").click()
    expect(page.locator("[data-testid=result] tbody tr")).to_have_count(1, timeout=120_000)
    with page.expect_download() as download:
        page.locator("[data-testid=download]").click()
    path = ARTIFACTS / "formulas.csv"
    download.value.save_as(str(path))
    header, row = list(csv.reader(path.open(newline="", encoding="utf-8")))
    cells = dict(zip(header, row, strict=True))
    live = [c for c in header + row if c.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(c)]
    assert not live, live
    assert cells == {
        "link": "'=HYPERLINK('http://attacker.test','open')",
        "at": "'@SUM(1+1)",
        "plus": "'+1+1",
        "minus": "'-1+1",
        "tab": "'\t=1",
        "cr": "'\r=1",
        "negative": "-5",
        "negative_text": "-5",
        "number": "2.5",
        "text": 'a "quoted", text',
        "'=header": "1",
    }
