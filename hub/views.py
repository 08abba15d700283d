"""/metrics (Prometheus) and /readyz (readiness); /healthz stays config.views' liveness check."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from config.views import service_checks
from hub.heartbeats import heartbeats_seen, missing_roles
from hub.metrics import metrics_text


def _from_allowed_network(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_CIDRS)


def _has_token(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(settings.METRICS_TOKEN)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())
    )


def metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text format, for `Authorization: Bearer <METRICS_TOKEN>` or a
    caller in METRICS_ALLOWED_CIDRS; a 404 when neither is configured."""
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_CIDRS:
        raise Http404("metrics are off")
    if not (_has_token(request) or _from_allowed_network(request)):
        if settings.METRICS_TOKEN:
            response = HttpResponse("A valid bearer token is required.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return HttpResponse("Not allowed from this address.\n", status=403)
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer and beat and a worker checked in
    within READINESS_MAX_AGE_SECONDS; otherwise 503 naming what is missing."""
    checks = service_checks()
    if checks["database"] == "ok":
        missing = missing_roles(heartbeats_seen())
        checks["beat"] = "missing" if "beat" in missing else "ok"
        checks["worker"] = "missing" if "worker" in missing else "ok"
    else:
        checks["beat"] = checks["worker"] = "unknown"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {
            "status": "ok" if ready else "unavailable",
            "checks": checks,
            "missing": [name for name, value in checks.items() if value != "ok"],
        },
        status=200 if ready else 503,
    )
