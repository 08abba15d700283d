"""A real receiver on loopback that verifies every signature with the
standardwebhooks package, and the settings that let the outbound client reach it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook


class Receiver:
    """Answers `statuses` in turn (then the last one forever). Records every
    request; `verified` holds the bodies whose signature checked out against
    `secret` (set it before the first delivery)."""

    def __init__(self) -> None:
        self.secret = ""
        self.statuses: list[int] = [200]
        self.requests: list[dict[str, Any]] = []
        self.verified: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append({"headers": headers, "body": body})
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                except Exception:
                    receiver.bad_signatures += 1
                else:
                    receiver.verified.append({"id": headers["webhook-id"], **payload})
                n = len(receiver.requests)
                code = receiver.statuses[min(n, len(receiver.statuses)) - 1]
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def types(self) -> list[str]:
        return [v["type"] for v in self.verified]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.OUTBOUND_HTTP_ALLOWLIST = ["127.0.0.1/32"]
    settings.WEBHOOKS_REQUIRE_HTTPS = False
    srv = Receiver()
    yield srv
    srv.close()


@pytest.fixture
def subscribe(workspace):
    """A subscription of `workspace` (through the service) to `events`."""
    from webhooks import services

    def make(url: str, events: list[str] | None = None, workspace_=None):
        return services.subscription_create(
            workspace=workspace_ or workspace, url=url, events=events or ["*"]
        )

    return make


def bodies(receiver: Receiver) -> list[dict]:
    return [json.loads(r["body"]) for r in receiver.requests]
