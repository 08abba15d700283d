"""Fake providers that speak the real wire formats over HTTP on loopback.

Each fake is a context manager running a `ThreadingHTTPServer` on 127.0.0.1 (a free
port) in a daemon thread; `.url` is its base URL. Tests talk to it with real HTTP, so
the executors' httpx code, timeouts and error mapping are exercised end to end.

Scripted failures, common to every fake (each consumes one incoming request, in order):

- `fail_next(n, status, retry_after=None, body=None)`: answer the next n requests
  with `status` (the fake's own error JSON unless `body` is given) without processing;
  `respond_next` is the same with any status (a 200 with an odd body, say).
- `drop_next(n, after_processing=False)`: close the connection without answering;
  with `after_processing=True` the request is processed first (a send whose response
  is lost: the ambiguous case retries must survive).
- `delay_next(n, seconds)`: wait before processing (to trigger client timeouts).

`attempts` records every request received (method, path, headers, body), failed or not;
`connections` counts the TCP connections accepted (a pooled client reuses them);
each fake keeps its own record of what it accepted; `errors` holds exceptions raised by
the fake's own code (answered as a plain-text 500), which tests may assert is empty.
`unused_url()` gives a URL where nothing listens, for "provider down" tests.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class FakeResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    @classmethod
    def json(cls, status: int, data: Any, **headers: str) -> FakeResponse:
        return cls(status, json.dumps(data).encode(), dict(headers))


@dataclass
class _Script:
    kind: str  # "fail" | "drop" | "delay"
    status: int = 0
    retry_after: str | None = None
    body: Any = None
    after_processing: bool = False
    seconds: float = 0.0


class _Drop(Exception):
    """Close the connection without an answer."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = FakeRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            response = self.server.fake._dispatch(request)
        except _Drop:
            self.close_connection = True
            return
        except Exception as exc:  # a bug in the fake: keep it visible to the test
            self.server.fake.errors.append(exc)
            response = FakeResponse(
                500, f"fake crashed: {exc!r}".encode(), content_type="text/plain"
            )
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeServer

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.fake.lock:
            self.fake.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) is not an error worth printing


class FakeServer:
    """Base class: subclasses implement `handle(request) -> FakeResponse` and
    `error_response(status, retry_after) -> FakeResponse`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempts: list[FakeRequest] = []
        self.connections = 0  # TCP connections accepted (keep-alive reuse shows here)
        self.errors: list[Exception] = []  # exceptions raised by the fake itself
        self._script: deque[_Script] = deque()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting
    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        *,
        retry_after: int | str | None = None,
        body: Any = None,
    ) -> None:
        self.respond_next(n, status, retry_after=retry_after, body=body)

    def respond_next(
        self,
        n: int = 1,
        status: int = 200,
        *,
        retry_after: int | str | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next n requests with `status` and `body` (JSON; the fake's own
        error JSON when None) without processing them."""
        with self.lock:
            for _ in range(n):
                self._script.append(
                    _Script(
                        "fail",
                        status=status,
                        retry_after=None if retry_after is None else str(retry_after),
                        body=body,
                    )
                )

    def drop_next(self, n: int = 1, *, after_processing: bool = False) -> None:
        with self.lock:
            for _ in range(n):
                self._script.append(_Script("drop", after_processing=after_processing))

    def delay_next(self, n: int = 1, seconds: float = 1.0) -> None:
        with self.lock:
            for _ in range(n):
                self._script.append(_Script("delay", seconds=seconds))

    # -- the request path
    def _dispatch(self, request: FakeRequest) -> FakeResponse:
        with self.lock:
            self.attempts.append(request)
            step = self._script.popleft() if self._script else None
        if step is None:
            return self.handle(request)
        if step.kind == "fail":
            if step.body is not None:
                response = FakeResponse.json(step.status, step.body)
            else:
                response = self.error_response(step.status)
            if step.retry_after is not None:
                response.headers["Retry-After"] = step.retry_after
            return response
        if step.kind == "drop":
            if step.after_processing:
                self.handle(request)
            raise _Drop
        self._stopping.wait(step.seconds)  # "delay"
        return self.handle(request)

    def handle(self, request: FakeRequest) -> FakeResponse:
        raise NotImplementedError

    def error_response(self, status: int) -> FakeResponse:
        return FakeResponse.json(status, {"error": f"HTTP {status}"})


def unused_url() -> str:
    """An http URL on loopback where (for the moment) nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
