"""Shared pieces of the outreach admin: the action columns, inlines and read-only action
admin of the queue and the action list (tenancy and dry runs: accounts.admin.common)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.admin.common import ReadOnlyAdmin, ReadOnlyInline, WorkspaceScopedAdmin, scope_to_user
from outreach.admin.reviewer_time import ReviewerTimeMixin, when_html, when_text
from outreach.models import (
    Action,
    ActionStatus,
    ActionTransition,
    ApprovalDecision,
)
from outreach.params import summary_of
from outreach.previews import attach_reply_threads, preview_of, recipient_label, subject_label

APPROVE_PERMISSION = "outreach.approve_action"


def can_approve(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.has_perm(APPROVE_PERMISSION)


# --- Filters and columns shared by the queue and the action list --------------
class ListIdFilter(admin.SimpleListFilter):
    title = "list"
    parameter_name = "list_id"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        ids = (
            model_admin.get_queryset(request)
            .exclude(list_id="")
            .order_by("list_id")
            .values_list("list_id", flat=True)
            .distinct()[:200]
        )
        return [(list_id, list_id) for list_id in ids]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(list_id=self.value())
        return queryset


def headline_of(action: Action) -> str:
    p = action.params or {}
    subject = subject_label(action)  # a drafted reply's from its thread, when attached
    if subject:
        return Truncator(subject).chars(80)
    for key in ("message", "title", "script", "reason", "body"):
        if p.get(key):
            return Truncator(str(p[key])).chars(80)
    return ""


class ActionColumns:
    """Read-only columns and detail fields shared by the queue and the action list."""

    @admin.display(description="Recipient")
    def recipient(self, obj: Action) -> str:
        return recipient_label(obj)

    @admin.display(description="Subject / message")
    def headline(self, obj: Action) -> str:
        return headline_of(obj)

    @admin.display(description="Due", ordering="scheduled_time")
    def due(self, obj: Action) -> str:
        stamp = when_html(obj.scheduled_time)  # the reviewer's zone (ReviewerTimeMixin)
        if obj.status == ActionStatus.PENDING_APPROVAL and obj.scheduled_time <= timezone.now():
            return format_html('{} <strong class="overdue">overdue</strong>', stamp)
        return stamp

    @admin.display(description="Scheduled time")
    def scheduled(self, obj: Action) -> str:
        return when_html(obj.scheduled_time)  # the same format as the preview's "When"

    @admin.display(description="Summary")
    def summary(self, obj: Action) -> str:
        return summary_of(obj.type, obj.params or {})

    @admin.display(description="Preview")
    def preview(self, obj: Action) -> str:
        # The template autoescapes every value; render_to_string returns SafeString.
        return render_to_string(
            "admin/outreach/includes/action_preview.html", {"preview": preview_of(obj)}
        )

    @admin.display(description="Params (JSON)")
    def params_json(self, obj: Action) -> str:
        return format_html(
            '<pre class="params-json">{}</pre>',
            json.dumps(obj.params, indent=2, ensure_ascii=False, sort_keys=True),
        )


class ApprovalDecisionInline(ReadOnlyInline):
    model = ApprovalDecision
    verbose_name = "decision"
    verbose_name_plural = "decision history"
    fields = ["at", "decision", "reviewer_label", "comment", "changes"]

    @admin.display(description="Created at")
    def at(self, obj: ApprovalDecision) -> str:
        return when_html(obj.created_at)

    @admin.display(description="Changes")
    def changes(self, obj: ApprovalDecision) -> str:
        lines = []
        before, after = obj.params_before or {}, obj.params_after or {}
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                old = Truncator(str(before.get(key, "∅"))).chars(60)
                new = Truncator(str(after.get(key, "∅"))).chars(60)
                lines.append(f"{key}: {old} → {new}")
        if obj.scheduled_time_before != obj.scheduled_time_after and obj.scheduled_time_after:
            before_due, after_due = obj.scheduled_time_before, obj.scheduled_time_after
            old_due = when_text(before_due) if before_due else "∅"
            lines.append(f"due: {old_due} → {when_text(after_due)}")
        return "\n".join(lines) or "—"


class ActionTransitionInline(ReadOnlyInline):
    model = ActionTransition
    verbose_name = "status change"
    verbose_name_plural = "audit trail"
    fields = ["at", "from_status", "to_status", "actor_label", "reason"]

    @admin.display(description="Created at")
    def at(self, obj: ActionTransition) -> str:
        return when_html(obj.created_at)


ACTION_FIELDSETS = [
    (
        None,
        {
            "fields": [
                "public_id",
                "type",
                "status",
                "scheduled",
                "workspace",
                "identity",
                "owner",
                "description",
                "list_id",
                "item_id",
            ]
        },
    ),
    ("Params", {"fields": ["params_json"]}),
    (
        "Execution",
        {
            "classes": ["collapse"],
            "fields": [
                "require_approval",
                "direct",
                "executed_at",
                "retry_count",
                "error_message",
                "provider_message_id",
                "multitouch_group_id",
                "uuid",
                "created_at",
                "updated_at",
            ],
        },
    ),
]
ACTION_READONLY = [f for _, opts in ACTION_FIELDSETS for f in opts["fields"]] + ["preview"]
ACTION_SEARCH = [
    "public_id",
    "params__to",
    "params__recipient_phone",
    "params__profile_url",
    "params__subject",
    "params__message",  # the text of an SMS or a LinkedIn message
    "description",
]
ACTION_SEARCH_HELP = (
    "Search by recipient (email, phone, LinkedIn URL), subject, SMS or LinkedIn message text, "
    "description or id."
)


class ReadOnlyActionAdmin(ReadOnlyAdmin, ReviewerTimeMixin, ActionColumns, WorkspaceScopedAdmin):
    """Actions are never added, edited or deleted by hand: services do that.
    Times show in the reviewer's zone (outreach/admin/reviewer_time.py)."""

    fieldsets = ACTION_FIELDSETS
    readonly_fields = ACTION_READONLY
    inlines = [ApprovalDecisionInline, ActionTransitionInline]
    search_fields = ACTION_SEARCH
    search_help_text = ACTION_SEARCH_HELP
    list_select_related = ["identity", "owner", "workspace"]
    list_per_page = 50

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) or can_approve(request)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return can_approve(request)

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        result_list = getattr(changelist, "result_list", None)
        if result_list is not None:
            # Drafted replies' recipients and subjects, for the page in one query;
            # the page's queryset keeps its evaluated rows for the template.
            attach_reply_threads(result_list)
        return changelist

    def scoped_actions(self, request: HttpRequest) -> QuerySet[Action]:
        """Every action the user may see, whatever its status (`Action`, not the proxy)."""
        return scope_to_user(request, Action.objects.all())
