"""Service-level views: the home page, health check and JSON error pages for API paths."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found
from django.views.defaults import server_error as html_server_error
from kombu import Connection

from config.exceptions import ApiError, is_api_path, json_error_response

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    """`/`: where the printed service URL lands, a page of links to the admin, the
    API docs and the health check (it shows nothing about any workspace)."""
    return render(request, "home.html")


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_broker() -> str:
    # A fresh connection from settings (not the app's pool), with a short timeout,
    # so a dead broker answers quickly instead of hanging the probe.
    with Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=2,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        if settings.CELERY_BROKER_URL.startswith("redis"):
            conn.default_channel.client.ping()
    return "ok"


def service_checks() -> dict[str, str]:
    """`ok` or `unreachable` for the database and the broker (/healthz, /readyz)."""
    checks: dict[str, str] = {}
    for name, check in (("database", _check_database), ("broker", _check_broker)):
        try:
            checks[name] = check()
        except Exception as exc:
            logger.warning("healthz: %s unreachable: %s", name, exc)
            checks[name] = "unreachable"
    return checks


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 naming what does not."""
    checks = service_checks()
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return json_error_response(request.path, ApiError(404, "not_found", "No such endpoint."))
    return page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    # Never a stack trace to an API client; the traceback goes to the log.
    if is_api_path(request.path):
        return json_error_response(
            request.path, ApiError(500, "server_error", "Internal error; it has been logged.")
        )
    return html_server_error(request)
