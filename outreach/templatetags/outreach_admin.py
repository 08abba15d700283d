"""Template tags for the outreach admin pages."""

from __future__ import annotations

import datetime as dt

from django import template
from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from outreach.admin import dashboard
from outreach.admin.actions import STUCK_PARAM, STUCK_VALUE, stuck_q
from outreach.admin.reviewer_time import when_html
from outreach.models import Action, ActionStatus, PendingApproval

register = template.Library()


@register.filter
def when(value: dt.datetime | None) -> str:
    """A time in the one format of the reviewers' pages, in the active (the
    reviewer's) zone with its name and offset, UTC on hover (see
    outreach/admin/reviewer_time.py)."""
    return when_html(value)


@register.simple_tag(takes_context=True)
def approval_queue_summary(context: template.Context) -> dict | None:
    """How many actions await approval, and how many of those are overdue, counted
    with the queue's own queryset (so the user's workspaces only). None when the
    user may not see the queue."""
    request = context.get("request")
    if request is None or not admin.site.is_registered(PendingApproval):
        return None
    model_admin = admin.site.get_model_admin(PendingApproval)
    if not model_admin.has_view_permission(request):
        return None
    counts = model_admin.get_queryset(request).aggregate(
        count=Count("pk"), overdue=Count("pk", filter=Q(scheduled_time__lte=timezone.now()))
    )
    return {**counts, "url": reverse("admin:outreach_pendingapproval_changelist")}


@register.simple_tag(takes_context=True)
def operations_summary(context: template.Context) -> dict | None:
    """How many of the user's actions failed, and how many are stuck in
    `processing` past their lease (beat reclaims those within a second, so any
    that stay mean beat is down), in one query with the action list's own
    queryset. None when the user may not see actions."""
    request = context.get("request")
    if request is None or not admin.site.is_registered(Action):
        return None
    model_admin = admin.site.get_model_admin(Action)
    if not model_admin.has_view_permission(request):
        return None
    failed, stuck = Q(status=ActionStatus.FAILED), stuck_q(timezone.now())
    counts = (
        model_admin.get_queryset(request)
        .filter(failed | stuck)
        .aggregate(failed=Count("pk", filter=failed), stuck=Count("pk", filter=stuck))
    )
    url = reverse("admin:outreach_action_changelist")
    return {
        **counts,
        "failed_url": f"{url}?{urlencode({'status__exact': ActionStatus.FAILED.value})}",
        "stuck_url": f"{url}?{urlencode({STUCK_PARAM: STUCK_VALUE})}",
    }


@register.simple_tag(takes_context=True)
def outreach_dashboard(context: template.Context) -> dict | None:
    """The dashboard's chart URLs (outreach/admin/dashboard.py), or None when the user
    may not see actions (the endpoints answer 403 then too)."""
    request = context.get("request")
    if request is None or not dashboard.may_see_dashboard(request):
        return None
    return {"urls": dashboard.chart_urls()}
