"""The admin index's dashboard: one JSON endpoint per chart, drawn in the page by
`outreach/static/outreach/dashboard.js` (inline SVG, no library, no CDN: the admin
works offline).

`GET /admin/outreach/action/dashboard/<chart>.json?range=24h|7d` (admin login and
staff required, `admin_view`; 403 without permission to see actions, 400 for another
range, 404 for another chart), each answered with a constant number of queries
whatever the number of actions (the selectors in outreach/selectors.py aggregate in
the database):

| chart | what | queries |
|---|---|---|
| `activity` | actions completed and failed per hour, by type (24 or 168 buckets) | 2 |
| `queue` | approval queue depth and overdue now; decisions and median time to decision | 3 |
| `reviewers` | decisions per reviewer (approved, rejected), the 10 busiest | 1 |
| `oldest` | the action waiting longest for approval, with its review page's link | 1 |
| `failures` | failed actions by `failure_code` | 1 |

(`activity` also reads the reviewer's time zone, to label the hours as every other
admin page does; a superuser's workspace list is a subquery, not a query.)

Scoping is the admin's: `visible_workspaces(request)` (every workspace for a superuser,
else the user's), and the dashboard is offered to whoever may see actions (the
`view_action` permission or `outreach.approve_action`, as the index's summaries and the
action list decide).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone

from accounts.admin.common import visible_workspaces
from outreach import selectors
from outreach.admin.reviewer_time import reviewer_zone_name
from outreach.models import Action, ActionType, FailureCode

CHARTS = ("activity", "queue", "reviewers", "oldest", "failures")
DEFAULT_RANGE = "24h"


def may_see_dashboard(request: HttpRequest) -> bool:
    """As the index's operations summary decides: the action list's view permission."""
    if not admin.site.is_registered(Action):
        return False
    return admin.site.get_model_admin(Action).has_view_permission(request)


def chart_urls() -> dict[str, str]:
    return {chart: reverse("admin:outreach_action_dashboard", args=[chart]) for chart in CHARTS}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _activity(request, workspaces, window, now) -> dict:
    series = selectors.dashboard_activity(workspaces=workspaces, window=window)
    labels = dict(ActionType.choices)
    return {
        "buckets": [_iso(hour) for hour in window.buckets()],
        "timezone": reviewer_zone_name(request),
        "series": [
            {"type": kind, "label": str(labels.get(kind, kind)), **counts}
            for kind, counts in sorted(series.items())
        ],
        "totals": {
            status: sum(sum(counts[status]) for counts in series.values())
            for status in ("completed", "failed")
        },
    }


def _queue(request, workspaces, window, now) -> dict:
    queue = selectors.dashboard_queue(workspaces=workspaces, window=window, now=now)
    return {**queue, "url": reverse("admin:outreach_pendingapproval_changelist")}


def _reviewers(request, workspaces, window, now) -> dict:
    rows = selectors.dashboard_reviewers(workspaces=workspaces, window=window)
    return {
        "limit": selectors.DASHBOARD_TOP_REVIEWERS,
        "reviewers": [
            {
                "reviewer": row["reviewer_label"],
                "approved": row["approved"],
                "rejected": row["rejected"],
            }
            for row in rows
        ],
    }


def _oldest(request, workspaces, window, now) -> dict:
    row = selectors.dashboard_oldest_waiting(workspaces=workspaces)
    if row is None:
        return {"action": None}
    return {
        "action": {
            "public_id": row["public_id"],
            "type": row["type"],
            "workspace": row["workspace__name"],
            "created_at": _iso(row["created_at"]),
            "scheduled_time": _iso(row["scheduled_time"]),
            "waiting_seconds": max((now - row["created_at"]).total_seconds(), 0),
            "url": reverse("admin:outreach_pendingapproval_change", args=[row["pk"]]),
        }
    }


def _failures(request, workspaces, window, now) -> dict:
    labels = dict(FailureCode.choices)
    rows = selectors.dashboard_failures(workspaces=workspaces, window=window)
    return {
        "failures": [
            {
                "code": row["failure_code"] or "",
                "label": str(labels.get(row["failure_code"], "No code")),
                "count": row["n"],
            }
            for row in rows
        ]
    }


_BUILDERS: dict[str, Callable[..., dict]] = {
    "activity": _activity,
    "queue": _queue,
    "reviewers": _reviewers,
    "oldest": _oldest,
    "failures": _failures,
}


def chart_view(request: HttpRequest, chart: str) -> JsonResponse:
    """One chart's data (wrapped in `admin_site.admin_view` by ActionAdmin.get_urls)."""
    build = _BUILDERS.get(chart)
    if build is None:
        raise Http404("No such chart.")
    if not may_see_dashboard(request):
        raise PermissionDenied
    range_key = request.GET.get("range", DEFAULT_RANGE)
    hours = selectors.DASHBOARD_RANGES.get(range_key)
    if hours is None:
        return JsonResponse(
            {
                "error": {
                    "code": "invalid_range",
                    "message": f"range must be one of: {', '.join(selectors.DASHBOARD_RANGES)}.",
                    "fields": {"range": [f"{range_key!r} is not a range."]},
                }
            },
            status=400,
        )
    now = timezone.now()
    window = selectors.DashboardWindow.ending(now, hours)
    data = build(request, visible_workspaces(request), window, now)
    return JsonResponse(
        {"chart": chart, "range": range_key, "start": _iso(window.start), "now": _iso(now), **data}
    )
