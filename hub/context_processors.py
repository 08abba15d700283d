"""The admin's banner when beat or the workers are down (templates/admin/base_site.html)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from hub.heartbeats import BEAT, WORKER, heartbeats_seen, missing_roles

WARNINGS = {
    BEAT: "Beat is down: no periodic task (due actions, automations, webhooks) is being sent.",
    WORKER: "No worker has checked in recently: nothing is being executed.",
}


def _warnings() -> list[str]:
    try:
        missing = missing_roles(heartbeats_seen())
    except Exception:  # the admin still renders without the banner's table
        return []
    return [WARNINGS[role] for role in missing]


def ops_status(request: HttpRequest) -> dict:
    """`ops_warnings`: one query, and only when a page (the admin's) shows them."""
    if not request.path.startswith("/admin/"):
        return {}
    return {"ops_warnings": SimpleLazyObject(_warnings)}
