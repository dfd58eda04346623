"""A small HTTP server on loopback: JSON endpoints through a tiny router, and the static front end."""

from __future__ import annotations

import json
import mimetypes
import re
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

from pipeline.console.api import ApiError, ConsoleApi, ForbiddenError, NotFoundError
from pipeline.errors import PipelineError

STATIC = Path(__file__).parent / "static"
HOST = "127.0.0.1"
MAX_BODY = 1024 * 1024
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class MethodNotAllowedError(ApiError):
    status = 405


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
    router.add("POST", "/api/query", lambda r: api.query(str(r.body.get("sql") or "")))
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

    server: ConsoleServer
    server_version = "pipeline-console"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, int) and code >= 400:  # polling would drown anything else
            super().log_request(code, size)

    def _dispatch(self, method: str) -> None:
        if self.headers.get("Host", "") not in self.server.hosts:  # DNS rebinding
            self._send_json(HTTPStatus.FORBIDDEN, {"error": "unexpected Host header"})
            return
        url = urlsplit(self.path)
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
        except ApiError as exc:
            self._send_json(int(exc.status), {"error": str(exc)})
        except PipelineError as exc:
            self._send_json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(exc)})
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
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError("request body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            raise ApiError(f"invalid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError("send a JSON object")
        return body

    def _static(self, path: str) -> None:
        root = STATIC.resolve()
        if path in ("/", "/index.html"):
            file = root / "index.html"
        elif path.startswith("/static/"):
            file = (root / unquote(path.removeprefix("/static/"))).resolve()
        else:
            file = root / "missing"
        if not file.is_relative_to(root) or not file.is_file():
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"not found: {path}"})
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
