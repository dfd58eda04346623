"""A small HTTP server on loopback: JSON endpoints through a tiny router, and the static front end."""

from __future__ import annotations

import json
import mimetypes
import re
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from pipeline.runtime.errors import PipelineError
from pipeline.tools.console.api import ApiError, ConsoleApi, ForbiddenError, NotFoundError

STATIC = Path(__file__).parent / "static"
HOST = "127.0.0.1"
MAX_BODY = 1024 * 1024
READ_TIMEOUT_S = 30  # a client that stops sending mid-request gets an answer (or the door) after this
LINGER_S, LINGER_BYTES = 1.0, 8 * MAX_BODY  # read what a refused client still sends, so closing is not a reset
CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")
UNSAFE_PATH = re.compile(r"[\x00-\x1f\x7f\\]")
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class MethodNotAllowedError(ApiError):
    status = 405


class PayloadTooLargeError(ApiError):
    status = 413


class LengthRequiredError(ApiError):
    status = 411


@dataclass
class Request:
    """What a route handler gets: path parameters, query string values and the JSON body."""

    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


Handler = Callable[[Request], Any]


class Router:
    """Routes like `GET /api/jobs/{job_id}` to handlers."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and path parameters for a request; `NotFoundError` or a 405 `ApiError` otherwise."""
        allowed = False
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if found:
                if route_method == method:
                    return handler, {k: unquote(v) for k, v in found.groupdict().items()}
                allowed = True
        if allowed:
            raise MethodNotAllowedError(f"{method} is not allowed on {path}")
        raise NotFoundError(f"no such endpoint: {path}")


def routes(api: ConsoleApi) -> Router:
    """The console's JSON endpoints."""
    router = Router()
    router.add("GET", "/api/info", lambda r: api.info())
    router.add("GET", "/api/jobs", lambda r: api.jobs(r.query.get("dataset"), r.query.get("status")))
    router.add("GET", "/api/jobs/{job_id}", lambda r: api.job(r.params["job_id"]))
    router.add("POST", "/api/jobs/{job_id}/redrive", lambda r: api.redrive(r.params["job_id"], r.body.get("confirm")))
    router.add("GET", "/api/executions", lambda r: api.executions())
    router.add("GET", "/api/executions/{name}", lambda r: api.execution(r.params["name"]))
    router.add("POST", "/api/query", lambda r: api.query(r.body.get("sql")))
    router.add("GET", "/api/health", lambda r: api.health())
    return router


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


class ConsoleServer(ThreadingHTTPServer):
    """Serves one `ConsoleApi`; answers only requests addressed to its own loopback host and port."""

    daemon_threads = True

    def __init__(self, api: ConsoleApi, port: int) -> None:
        super().__init__((HOST, port), ConsoleRequestHandler)
        self.router = routes(api)
        bound = self.server_address[1]
        self.hosts = {f"{HOST}:{bound}", f"localhost:{bound}"} | ({HOST, "localhost"} if bound == 80 else set())


class ConsoleRequestHandler(BaseHTTPRequestHandler):
    """GET and POST for the API, GET for static files; nothing else."""

    raw_requestline: bytes  # set by handle_one_request before parse_request (typeshed leaves it out)

    server: ConsoleServer
    server_version = "pipeline-console"
    timeout = READ_TIMEOUT_S

    def do_GET(self) -> None:
        self._guarded("GET")

    def do_HEAD(self) -> None:
        self._guarded("GET")

    def do_POST(self) -> None:
        self._guarded("POST")

    def parse_request(self) -> bool:
        if not self.raw_requestline.strip():  # the standard library would close without a word
            self.command, self.request_version, self.requestline = None, "HTTP/1.0", ""  # type: ignore[assignment]
            self.send_error(HTTPStatus.BAD_REQUEST, "the request line is empty")
            return False
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":  # a bare "GET /path" line would get a body without a status line
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not supported")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the standard library answers itself (bad request lines, headers, methods), as JSON and 4xx.

        An unknown method is answered 405 and an HTTP/2+ request line 400: nothing a client sends gets a 5xx.
        """
        replaced: dict[int, int] = {HTTPStatus.NOT_IMPLEMENTED: 405, HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: 400}
        status = replaced.get(code, code)
        if self.request_version == "HTTP/0.9":  # write a status line and headers whatever the request line was
            self.request_version = "HTTP/1.0"
        self.close_connection = True
        text = message or HTTPStatus(status).phrase
        if code == HTTPStatus.NOT_IMPLEMENTED:
            text = "only GET, HEAD and POST are allowed"
        self.log_error("code %d, message %s", status, text)
        self._send_json(status, {"error": text})

    def log_message(self, format: str, *args: Any) -> None:
        message = format % args
        sys.stderr.write(f"{self.address_string()} - - [{self.log_date_time_string()}] {_printable(message)}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, int) and code >= 400:  # polling would drown anything else
            super().log_request(code, size)

    def finish(self) -> None:
        """Close gently: stop sending, then read what the client still sends (an unread body), briefly."""
        try:
            super().finish()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_S)
            drained = 0
            while drained < LINGER_BYTES and (chunk := self.connection.recv(65536)):
                drained += len(chunk)
        except OSError:
            pass

    def _guarded(self, method: str) -> None:
        """Answer every request, whatever fails: a bug is a 500 with a one-line reason, never a dropped connection."""
        try:
            self._dispatch(method)
        except (BrokenPipeError, ConnectionResetError):  # the client went away; nothing to answer
            self.close_connection = True
        except Exception as exc:
            self.log_error("%s %s failed: %r", method, _printable(self.path)[:200], exc)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})

    def _dispatch(self, method: str) -> None:
        if self.headers.get("Host", "") not in self.server.hosts:  # DNS rebinding
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
            return
        try:
            url = urlsplit(self.path)
        except ValueError:
            self._send_json(HTTPStatus.BAD_REQUEST, {"error": "the request target is not a valid URL path"})
            return
        if url.path.startswith("/api/"):
            self._api(method, url.path, {k: v[0] for k, v in parse_qs(url.query).items()})
        elif method == "GET":
            self._static(url.path)
        else:
            self._send_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"{method} is not allowed here"})

    def _api(self, method: str, path: str, query: dict[str, str]) -> None:
        try:
            handler, params = self.server.router.match(method, path)
            body = self._body() if method == "POST" else {}
            self._send_json(HTTPStatus.OK, handler(Request(params, query, body)))
        except TimeoutError:
            self._send_json(HTTPStatus.REQUEST_TIMEOUT, {"error": f"the body did not arrive within {self.timeout} s"})
        except ApiError as exc:
            self._send_json(int(exc.status), {"error": str(exc)})
        except PipelineError as exc:  # refused (NotReadOnlyError) or failed (QueryError): the kind tells which
            self._send_json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(exc), "kind": type(exc).__name__})
        except (ClientError, BotoCoreError) as exc:
            self._send_json(HTTPStatus.BAD_GATEWAY, {"error": f"AWS: {exc}"})
        except Exception as exc:
            self.log_error("%s %s failed: %r", method, path, exc)
            self._send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})

    def _body(self) -> dict[str, Any]:
        """The JSON body of a POST, sent by the console's own page (same origin, JSON content type)."""
        origin = self.headers.get("Origin")
        if origin is not None and origin.removeprefix("http://") not in self.server.hosts:
            raise ForbiddenError("cross-origin requests are refused")
        if self.headers.get_content_type() != "application/json":
            raise ApiError("send JSON (Content-Type: application/json)")
        length = self._content_length()
        raw = self.rfile.read(length)
        if len(raw) != length:
            raise ApiError(f"the body has {len(raw)} bytes, not the {length} its Content-Length says")
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:  # UnicodeDecodeError included
            raise ApiError(f"invalid JSON: {exc}") from exc
        except RecursionError as exc:
            raise ApiError("invalid JSON: nested too deeply") from exc
        if not isinstance(body, dict):
            raise ApiError("send a JSON object")
        return body

    def _content_length(self) -> int:
        """The body's length: one plain decimal Content-Length of at most `MAX_BODY` bytes (none means empty)."""
        if self.headers.get("Transfer-Encoding"):
            raise LengthRequiredError("send the body with a Content-Length (chunked bodies are not accepted)")
        values = {v.strip() for v in self.headers.get_all("Content-Length") or []}
        if not values:
            return 0
        if len(values) > 1 or not CONTENT_LENGTH.fullmatch(next(iter(values))):
            raise ApiError("Content-Length must be one whole number of bytes")
        length = int(next(iter(values)))
        if length > MAX_BODY:
            raise PayloadTooLargeError(f"the request body is larger than {MAX_BODY:,} bytes")
        return length

    def _static(self, path: str) -> None:
        file = _static_file(path)
        if file is None:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"not found: {_printable(path)[:200]}"})
            return
        kind = TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        charset = "; charset=utf-8" if kind.startswith("text/") else ""
        self._send(HTTPStatus.OK, file.read_bytes(), kind + charset, "no-cache")

    def _send_json(self, status: int, data: Any) -> None:
        body = json.dumps(data, default=_json_default).encode("utf-8")
        self._send(status, body, "application/json", "no-store")

    def _send(self, status: int, body: bytes, content_type: str, cache: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _static_file(path: str) -> Path | None:
    """The file under `static/` a path names, or None (outside it, missing, or a name no file can have)."""
    root = STATIC.resolve()
    if path in ("/", "/index.html"):
        return root / "index.html"
    name = unquote(path.removeprefix("/static/")) if path.startswith("/static/") else ""
    if not name or UNSAFE_PATH.search(name):
        return None
    try:
        file = (root / name).resolve()
        return file if file.is_relative_to(root) and file.is_file() else None
    except (OSError, ValueError):  # a name too long, or one the file system refuses
        return None


def _printable(text: str) -> str:
    """``text`` with control characters escaped, for logs and messages."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def make_server(api: ConsoleApi, port: int) -> ConsoleServer:
    """A console server bound to 127.0.0.1:``port`` (0 picks a free port)."""
    try:
        return ConsoleServer(api, port)
    except OSError as exc:
        raise PipelineError(f"cannot listen on {HOST}:{port} ({exc.strerror}): choose another --port") from exc


def serve(server: ConsoleServer) -> None:
    """Serve until interrupted."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.stderr.write("console stopped\n")
    finally:
        server.server_close()
