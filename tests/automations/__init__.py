"""Helpers for the automation settings tests (seed 004): the seed's example, a check
of the ProblemDetails error envelope, and a recording HTTP(S) server on loopback for
the outbound calls. Their rows are made by the builders in tests/factories.py."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Seed 004's POST /api/Actions example, as the vendor documents it.
SEED_API_CALL: dict[str, Any] = {
    "name": "Call CRM",
    "description": "Update the customer record",
    "actionType": "ApiCall",
    "apiEndpoint": "/customers/{{endUser.customerNumber}}",
    "apiMethod": "PUT",
    "apiHeaders": '{"Content-Type":"application/json"}',
    "apiBodyTemplate": '{"status":"{{ticket.status}}"}',
    "overrideApiAuthenticationType": "Bearer",
    "isActive": True,
    "isFunctionTool": False,
    "toolCallTimeoutSeconds": 30,
}


# The action definitions' admin.
DEFINITIONS = "/admin/automations/actiondefinition/"


def change_url(definition) -> str:
    return f"{DEFINITIONS}{definition.pk}/change/"


def problem(response, status: int) -> dict:
    """The response's ProblemDetails body, after checking its status and shape."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    body = response.json()
    assert set(body) == {"type", "title", "status", "code", "errors"}, body
    assert body["status"] == status
    return body


def drain_steps(run_on_commit=None, rounds: int = 20) -> None:
    """Run due automation steps until none are left (what beat's every-second tick
    does). In a test inside a transaction, pass django_capture_on_commit_callbacks
    so each round's on-commit callbacks (the next pipeline stages) run; a
    transactional test (the live server's) commits for real and passes nothing."""
    from contextlib import nullcontext

    from automations.engine import steps_dispatch

    for _ in range(rounds):
        with run_on_commit(execute=True) if run_on_commit else nullcontext():
            if not steps_dispatch():
                return


# --- a recording HTTP(S) server -------------------------------------------------------------
Route = Callable[[dict[str, Any]], tuple[int, dict[str, str], Any]]


class LocalServer:
    """ThreadingHTTPServer in a thread. `routes[path]` answers (status, headers, body), body
    bytes or an iterable of chunks (sent without Content-Length, then the connection
    closes). Every request is recorded in `requests`."""

    def __init__(self, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None):
        self.host = host
        self.requests: list[dict[str, Any]] = []
        self.routes: dict[str, Route] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                path = self.path.split("?", 1)[0]
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": self.rfile.read(length) if length else b"",
                    "client": self.client_address[0],
                }
                server.requests.append(record)
                route = server.routes.get(path)
                if route is None:
                    status, headers, body = 404, {"Content-Type": "text/plain"}, b"not found"
                else:
                    status, headers, body = route(record)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if isinstance(body, bytes | str):
                    body = body.encode() if isinstance(body, str) else body
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                else:  # streamed, close-delimited (HTTP/1.0)
                    self.end_headers()
                    for chunk in body:
                        self.wfile.write(chunk)
                        self.wfile.flush()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up (timeouts, size caps) is expected here

        self.httpd = Server((host, 0), Handler)
        self.scheme = "http"
        if ssl_context is not None:
            self.httpd.socket = ssl_context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/", host: str | None = None) -> str:
        host = host or self.host
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}{path}"

    def reply(self, path: str, status: int = 200, body: Any = b"", **headers: str) -> None:
        headers = {k.replace("_", "-"): v for k, v in headers.items()}
        self.routes[path] = lambda _request: (status, headers, body)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.reply(path, status, b"", Location=location)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
