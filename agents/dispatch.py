"""Calls a REST endpoint of this service in-process, as the MCP caller's key.

The MCP tools are a thin adapter over the REST facades: each tool call is the
request an integrator would send (`POST /v1/actions`, `GET /api/Actions/tools`,
...), resolved by the project's URLconf and answered by the same DRF view. So
authentication, scopes, tenancy (another workspace's id is a 404), validation
(a 400 naming every bad field) and the response body are those of the REST API
by construction, not by a second implementation that could drift.

Only the view runs: no Django middleware (no session, no CSRF, no CORS), which
are about browsers; the key goes in the Authorization header as on /v1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from django.db import close_old_connections
from django.http import HttpRequest
from django.test import RequestFactory
from django.urls import Resolver404, resolve


@dataclass(frozen=True)
class Caller:
    """Who is calling the MCP server: the bearer token as presented (already
    checked once by the ASGI guard), and the Host the client used."""

    token: str
    host: str
    scheme: str = "http"
    api_key: Any = None


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


NOT_FOUND = Answer(
    404, {"status": "error", "error": {"code": "not_found", "message": "Not found.", "fields": {}}}
)


def segment(value: object) -> str:
    """One path segment from a caller-supplied id: nothing in it can change the path."""
    return quote(str(value), safe="")


def call(
    caller: Caller,
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> Answer:
    """`method path` as `caller`; the view's status and decoded JSON body."""
    try:
        match = resolve(path)
    except Resolver404:
        return NOT_FOUND
    query = {k: v for k, v in (query or {}).items() if v is not None}
    url = path + (f"?{urlencode(query, doseq=True)}" if query else "")
    request: HttpRequest = RequestFactory().generic(
        method,
        url,
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        secure=caller.scheme == "https",
        HTTP_AUTHORIZATION=f"Bearer {caller.token}",
        HTTP_HOST=caller.host,
    )
    close_old_connections()
    try:
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render"):
            response.render()
        content = response.content
        return Answer(response.status_code, json.loads(content) if content else None)
    finally:
        close_old_connections()
