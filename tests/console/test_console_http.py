"""Malformed requests to the console's server over raw sockets: each gets a readable 4xx, none a 5xx or a reset.

None of these requests reaches AWS (each is refused before), so the server runs without a cloud.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from pipeline.tools.console import server as console_server
from pipeline.tools.console.api import ConsoleApi
from pipeline.tools.console.server import MAX_BODY, make_server

JSON_TYPE = "Content-Type: application/json\r\n"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    handler = console_server.ConsoleRequestHandler
    saved, handler.timeout = handler.timeout, 1.0  # a stalled body is answered within a second
    server = make_server(ConsoleApi({"JobsTable": "jobs", "GlueDatabase": "db"}, "unit"), 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    handler.timeout = saved


def exchange(port: int, data: bytes, *, close_write: bool = True) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` raw; the status, headers and body of the one response (an error if there is none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):  # a reset raises ConnectionResetError: the test fails on it
            chunks.append(chunk)
    raw = b"".join(chunks)
    assert raw.startswith(b"HTTP/1."), f"no HTTP response, got {raw[:200]!r}"
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("iso-8859-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def request(method: str, path: str, port: int, headers: str = "", body: bytes = b"", host: str | None = None) -> bytes:
    host_line = "" if host == "" else f"Host: {host or f'127.0.0.1:{port}'}\r\n"
    return f"{method} {path} HTTP/1.1\r\n{host_line}{headers}\r\n".encode("latin-1") + body


def query_with(port: int, headers: str, body: bytes = b"") -> bytes:
    """A JSON POST to /api/query with these length headers and body."""
    return request("POST", "/api/query", port, JSON_TYPE + headers, body)


def post(port: int, path: str, body: bytes, headers: str = JSON_TYPE) -> bytes:
    return request("POST", path, port, f"{headers}Content-Length: {len(body)}\r\n", body)


CASES = {
    # methods
    **{f"method {m}": (lambda p, m=m: request(m, "/api/info", p), 405) for m in ("PUT", "DELETE", "PATCH", "OPTIONS")},
    "method TRACE": (lambda p: request("TRACE", "/", p), 405),
    "method made up": (lambda p: request("FROBNICATE", "/api/info", p), 405),
    "method lower case": (lambda p: request("get", "/api/info", p), 405),
    "method with NUL": (lambda p: b"G\x00T /api/info HTTP/1.1\r\n\r\n", 405),
    # request lines
    "garbage line": (lambda p: b"GARBAGE\r\n\r\n", 400),
    "blank line": (lambda p: b"\r\n\r\n", 400),
    "HTTP/0.9 line": (lambda p: b"GET /api/info\r\n", 400),
    "HTTP/2.0 line": (lambda p: b"GET /api/info HTTP/2.0\r\n\r\n", 400),
    "bad version": (lambda p: b"GET /api/info FOO/1.0\r\n\r\n", 400),
    "too many words": (lambda p: b"GET / x HTTP/1.1\r\n\r\n", 400),
    "URL too long": (lambda p: request("GET", "/" + "a" * 70_000, p), 414),
    "header too long": (lambda p: request("GET", "/", p, f"X: {'a' * 70_000}\r\n"), 431),
    "too many headers": (lambda p: request("GET", "/", p, "".join(f"X{i}: 1\r\n" for i in range(120))), 431),
    "bad IPv6 target": (lambda p: request("GET", "http://[::1/api/info", p), 400),
    "asterisk target": (lambda p: request("GET", "*", p), 404),
    # Host
    "no Host": (lambda p: request("GET", "/api/info", p, host=""), 403),
    "foreign Host": (lambda p: request("GET", "/api/info", p, host="attacker.test"), 403),
    "Host with NUL": (lambda p: request("GET", "/api/info", p, host=f"127.0.0.1:{p}\x00"), 403),
    # paths: NUL, .., encoded variants
    "static NUL": (lambda p: request("GET", "/static/%00", p), 404),
    "static NUL in name": (lambda p: request("GET", "/static/js/app.js%00.png", p), 404),
    "root NUL": (lambda p: request("GET", "/%00", p), 404),
    "static dot dot": (lambda p: request("GET", "/static/../server.py", p), 404),
    "static encoded dot dot": (lambda p: request("GET", "/static/%2e%2e/server.py", p), 404),
    "static encoded slash": (lambda p: request("GET", "/static/..%2fserver.py", p), 404),
    "static double encoded": (lambda p: request("GET", "/static/%252e%252e/server.py", p), 404),
    "static overlong UTF-8": (lambda p: request("GET", "/static/%c0%ae%c0%ae/server.py", p), 404),
    "static bad UTF-8": (lambda p: request("GET", "/static/%ff%fe", p), 404),
    "static backslash": (lambda p: request("GET", "/static/..%5cserver.py", p), 404),
    "static absolute": (lambda p: request("GET", "/static//etc/passwd", p), 404),
    "static name too long": (lambda p: request("GET", "/static/" + "a" * 5000, p), 404),
    "static control character": (lambda p: request("GET", "/static/%1b%5b31m", p), 404),
    "api NUL": (lambda p: request("GET", "/api/%00", p), 404),
    "job id NUL": (lambda p: request("GET", "/api/jobs/%00", p), 404),
    "job id dot dot": (lambda p: request("GET", "/api/jobs/..%2f..%2fetc", p), 404),
    "job id too long": (lambda p: request("GET", "/api/jobs/" + "a" * 3000, p), 404),
    "job id bad UTF-8": (lambda p: request("GET", "/api/jobs/%ff", p), 404),
    "execution NUL": (lambda p: request("GET", "/api/executions/%00", p), 404),
    "execution with colon": (lambda p: request("GET", "/api/executions/a:b", p), 404),
    # Content-Length
    **{
        f"Content-Length {v!r}": (lambda p, v=v: query_with(p, f"Content-Length: {v}\r\n"), 400)
        for v in ("abc", "-1", "+5", "1e3", "0x10", "1_0", " ", "99999999999999999999")
    },
    "Content-Length huge": (lambda p: query_with(p, f"Content-Length: {10**12}\r\n"), 413),
    "Content-Length over the limit, body sent": (
        lambda p: query_with(p, f"Content-Length: {MAX_BODY + 1}\r\n", b"x" * (MAX_BODY + 1)),
        413,
    ),
    "two Content-Lengths": (lambda p: query_with(p, "Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"), 400),
    "chunked body": (lambda p: query_with(p, "Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n"), 411),
    "body shorter than its Content-Length": (lambda p: query_with(p, "Content-Length: 50\r\n", b'{"sql":'), 400),
    # bodies
    "not JSON": (lambda p: post(p, "/api/query", b"{"), 400),
    "JSON array": (lambda p: post(p, "/api/query", b"[]"), 400),
    "JSON null": (lambda p: post(p, "/api/query", b"null"), 400),
    "JSON string": (lambda p: post(p, "/api/query", b'"SELECT 1"'), 400),
    "not UTF-8": (lambda p: post(p, "/api/query", b"\xff\xfe{}"), 400),
    "nested too deeply": (lambda p: post(p, "/api/query", b"[" * 200_000), 400),
    "sql a number": (lambda p: post(p, "/api/query", b'{"sql": 5}'), 400),
    "sql a list": (lambda p: post(p, "/api/query", b'{"sql": ["SELECT 1"]}'), 400),
    "sql missing": (lambda p: post(p, "/api/query", b"{}"), 422),
    "sql that writes": (lambda p: post(p, "/api/query", b'{"sql": "DROP TABLE orders"}'), 422),
    "form body": (lambda p: post(p, "/api/query", b"sql=SELECT+1", f"Content-Type: {FORM}\r\n"), 400),
    "no content type": (lambda p: post(p, "/api/query", b"{}", ""), 400),
    "cross-origin": (lambda p: post(p, "/api/query", b"{}", f"{JSON_TYPE}Origin: http://attacker.test\r\n"), 403),
    "redrive read-only": (lambda p: post(p, "/api/jobs/abc/redrive", b'{"confirm": 5}'), 403),
    "POST to a GET endpoint": (lambda p: post(p, "/api/info", b"{}"), 405),
    "POST to a static file": (lambda p: post(p, "/static/js/app.js", b"{}"), 405),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_request_gets_a_readable_4xx_never_a_5xx_or_a_dropped_connection(port: int, case: str) -> None:
    build, expected = CASES[case]
    status, headers, body = exchange(port, build(port))
    assert status == expected, (status, body[:300])
    assert headers.get("content-type") == "application/json", headers
    assert headers.get("x-content-type-options") == "nosniff"
    error = json.loads(body)["error"]
    assert isinstance(error, str) and error and "Traceback" not in error


def test_a_body_that_stops_arriving_is_answered_408(port: int) -> None:
    status, _, body = exchange(port, post(port, "/api/query", b'{"sql": "SELECT 1"}')[:-5], close_write=False)
    assert status == 408, body
    assert "did not arrive" in json.loads(body)["error"]


def test_the_console_still_serves_after_every_malformed_request(port: int) -> None:
    for build, _ in CASES.values():
        exchange(port, build(port))
    status, _, body = exchange(port, request("GET", "/api/info", port))
    assert status == 200 and json.loads(body)["stage"] == "unit"
