"""Template tags for the outreach admin pages."""

from __future__ import annotations

from django import template
from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from outreach.models import PendingApproval

register = template.Library()


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
