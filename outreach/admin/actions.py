"""Every action, read-only, with the operators' view of execution.

- The list shows counts by status for the user's workspaces above it (one
  grouped query), each linking to the list filtered by that status, and the
  actions **stuck** in `processing` past their lease (the dispatcher reclaims
  those within a second while beat runs, so a stuck action means beat is down).
- An action's page shows its attempts and its last error; **Retry** (failed
  actions) and **Complete task** (scheduled tasks) post to views that call
  `action_retry` / `action_complete_task`, like `POST /v1/actions/{id}/retry`
  and `/complete`. "Retry selected failed actions" does the same in bulk.

Status changes only through services. Retrying and completing need the
`outreach.approve_action` permission (reviewers and operators hold it): without
it there are no buttons and the views answer 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.text import Truncator
from django.views.decorators.http import require_POST

from accounts.actors import Actor
from accounts.admin.common import ReadOnlyInline, visible_workspaces
from config.exceptions import DomainError, InvalidTransition
from outreach import services
from outreach.admin import dashboard
from outreach.admin.common import (
    ACTION_FIELDSETS,
    ACTION_READONLY,
    ActionTransitionInline,
    ApprovalDecisionInline,
    ListIdFilter,
    ReadOnlyActionAdmin,
)
from outreach.models import (
    Action,
    ActionAttempt,
    ActionStatus,
    ActionType,
)

STUCK_PARAM = "stuck"
STUCK_VALUE = "yes"
NOTE_MAX_LENGTH = 2000


def stuck_q(now: dt.datetime) -> Q:
    """Claimed by a worker whose lease ran out: the dispatcher reclaims these
    within a second while beat runs, so any that stay mean beat is down."""
    return Q(status=ActionStatus.PROCESSING, lease_expires_at__lt=now)


def is_stuck(action: Action, now: dt.datetime | None = None) -> bool:
    return (
        action.status == ActionStatus.PROCESSING
        and action.lease_expires_at is not None
        and action.lease_expires_at < (now or timezone.now())
    )


class StuckFilter(admin.SimpleListFilter):
    title = "stuck"
    parameter_name = STUCK_PARAM

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(STUCK_VALUE, "Processing past its lease")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == STUCK_VALUE:
            return queryset.filter(stuck_q(timezone.now()))
        return queryset


class ActionAttemptInline(ReadOnlyInline):
    model = ActionAttempt
    verbose_name = "attempt"
    verbose_name_plural = "attempts"
    fields = [
        "number",
        "outcome",
        "started_at",
        "finished_at",
        "worker",
        "provider_message_id",
        "error_message",
    ]


class CompleteTaskForm(forms.Form):
    note = forms.CharField(
        required=False,
        strip=True,
        max_length=NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Optional; stored in the audit trail.",
    )


# The shared fieldsets, with the lease in "Execution" (a stuck action's expiry).
ACTION_ADMIN_FIELDSETS: list = [(None, {"fields": ["preview"]})]
for _name, _opts in ACTION_FIELDSETS:
    _fields = list(_opts["fields"])
    if _name == "Execution":
        # The failure code next to the error it classifies.
        _fields.insert(_fields.index("error_message") + 1, "failure_code")
        _fields.append("lease_expires_at")
    ACTION_ADMIN_FIELDSETS.append((_name, {**_opts, "fields": _fields}))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _ids(ids: list[str], limit: int = 20) -> str:
    return ", ".join(ids[:limit]) + (" …" if len(ids) > limit else "")


@admin.register(Action)
class ActionAdmin(ReadOnlyActionAdmin):
    list_display = [
        "public_id",
        "type",
        "status_column",
        "due",
        "recipient",
        "headline",
        "retries",
        "last_error",
        "identity",
        "owner",
        "workspace",
        "created_at",
    ]
    list_filter = [
        "status",
        StuckFilter,
        "type",
        ("identity", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
        ListIdFilter,
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    fieldsets = ACTION_ADMIN_FIELDSETS
    readonly_fields = [*ACTION_READONLY, "failure_code", "lease_expires_at"]
    inlines = [ActionAttemptInline, ApprovalDecisionInline, ActionTransitionInline]
    date_hierarchy = "created_at"
    actions = ["retry_selected"]

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        if visible_workspaces(request)[:2].count() < 2:
            columns.remove("workspace")  # one workspace: the column says nothing
        return columns

    # -- columns ------------------------------------------------------------------
    @admin.display(description="Status", ordering="status")
    def status_column(self, obj: Action) -> str:
        if is_stuck(obj):
            return format_html(
                '{} <strong class="stuck" title="Lease expired at {}">stuck</strong>',
                obj.get_status_display(),
                obj.lease_expires_at.isoformat(),
            )
        return obj.get_status_display()

    @admin.display(description="Retries", ordering="retry_count")
    def retries(self, obj: Action) -> int:
        return obj.retry_count

    @admin.display(description="Last error")
    def last_error(self, obj: Action) -> str:
        if not obj.error_message:
            return ""
        return format_html(
            '<span title="{}">{}</span>',
            obj.error_message,
            Truncator(obj.error_message).chars(60),
        )

    # -- the list: counts by status --------------------------------------------------
    def status_counts(self, request: HttpRequest) -> dict[str, Any]:
        """Counts of the user's actions per status, and of the stuck ones, in one
        grouped query (the workspace-status index serves it)."""
        rows = (
            self.scoped_actions(request)
            .order_by()
            .values("status")
            .annotate(
                count=Count("pk"),
                stuck=Count("pk", filter=Q(lease_expires_at__lt=timezone.now())),
            )
        )
        by_status = {row["status"]: row for row in rows}
        current = request.GET.get("status__exact")
        statuses = [
            {
                "value": status.value,
                "label": status.label,
                "count": by_status.get(status.value, {}).get("count", 0),
                "url": "?" + urlencode({"status__exact": status.value}),
                "current": current == status.value,
            }
            for status in ActionStatus
        ]
        processing = by_status.get(ActionStatus.PROCESSING.value, {})
        return {
            "total": sum(s["count"] for s in statuses),
            "statuses": statuses,
            "stuck": processing.get("stuck", 0),
            "stuck_url": "?" + urlencode({STUCK_PARAM: STUCK_VALUE}),
            "stuck_current": request.GET.get(STUCK_PARAM) == STUCK_VALUE,
            "all_current": not current and STUCK_PARAM not in request.GET,
        }

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {"status_counts": self.status_counts(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    # -- the detail page -------------------------------------------------------------
    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Action | None = None,
    ) -> HttpResponse:
        if obj is not None:
            operator = self.has_approve_permission(request)
            retriable = obj.status == ActionStatus.FAILED
            completable = obj.type == ActionType.TASK and obj.status == ActionStatus.SCHEDULED
            context.update(
                last_error=obj.error_message,
                stuck=is_stuck(obj),
                can_retry=operator and retriable,
                can_complete=operator and completable,
                # Say why there is no button where an operator would see one.
                needs_permission=not operator and (retriable or completable),
            )
            context.setdefault("complete_form", CompleteTaskForm())
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- retry and complete ------------------------------------------------------------
    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="{}_{}_retry".format(*info),
            ),
            path(
                "<path:object_id>/complete/",
                self.admin_site.admin_view(self.complete_view),
                name="{}_{}_complete".format(*info),
            ),
            # The admin index's charts (outreach/admin/dashboard.py).
            path(
                "dashboard/<slug:chart>.json",
                self.admin_site.admin_view(dashboard.chart_view),
                name="{}_{}_dashboard".format(*info),
            ),
            *super().get_urls(),
        ]

    def _operable(self, request: HttpRequest, object_id: str) -> Action:
        """The action to operate on: 403 without the permission, 404 when it is
        not in the user's workspaces."""
        if not self.has_approve_permission(request):
            raise PermissionDenied
        if not object_id.isdigit():
            raise Http404
        return get_object_or_404(self.scoped_actions(request), pk=object_id)

    def _back_to(self, request: HttpRequest, action: Action) -> HttpResponse:
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[action.pk]
        )
        context = {"opts": self.opts, "preserved_filters": self.get_preserved_filters(request)}
        return HttpResponseRedirect(add_preserved_filters(context, url))

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._retry)(request, object_id)

    def _retry(self, request: HttpRequest, object_id: str) -> HttpResponse:
        action = self._operable(request, object_id)
        try:
            retried = services.action_retry(action=action, actor=Actor.for_user(request.user))
        except DomainError as exc:  # InvalidTransition: not failed (any more)
            self.message_user(request, f"{exc.message} Nothing was changed.", messages.ERROR)
            return self._back_to(request, action)
        self.log_change(request, retried, "Retried")
        self.message_user(
            request,
            f"Requeued {retried.public_id}: due now, with a fresh retry budget.",
            messages.SUCCESS,
        )
        return self._back_to(request, retried)

    def complete_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._complete)(request, object_id)

    def _complete(self, request: HttpRequest, object_id: str) -> HttpResponse:
        action = self._operable(request, object_id)
        form = CompleteTaskForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(e for es in form.errors.values() for e in es)
            self.message_user(request, f"Nothing was changed: {errors}", messages.ERROR)
            return self._back_to(request, action)
        note = form.cleaned_data["note"]
        try:
            done = services.action_complete_task(
                action=action, actor=Actor.for_user(request.user), note=note
            )
        except DomainError as exc:  # InvalidTransition: not a task, or not scheduled
            self.message_user(request, f"{exc.message} Nothing was changed.", messages.ERROR)
            return self._back_to(request, action)
        self.log_change(request, done, f"Completed task{': ' + note if note else ''}")
        self.message_user(request, f"Completed task {done.public_id}.", messages.SUCCESS)
        return self._back_to(request, done)

    # -- bulk retry -----------------------------------------------------------------------
    @admin.action(description="Retry selected failed actions", permissions=["approve"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = queryset.count()
        if count > services.BULK_LIMIT:
            self.message_user(
                request,
                f"Select at most {services.BULK_LIMIT} actions at once ({count} selected).",
                messages.ERROR,
            )
            return
        actor = Actor.for_user(request.user)
        retried: list[str] = []
        skipped: list[str] = []
        for action in queryset.order_by("id"):
            if action.status != ActionStatus.FAILED:
                skipped.append(f"{action.public_id} ({action.status})")
                continue
            try:
                done = services.action_retry(action=action, actor=actor)
            except InvalidTransition:  # changed since the list was shown
                current = Action.objects.filter(pk=action.pk).values_list("status", flat=True)
                skipped.append(f"{action.public_id} ({current.first()})")
                continue
            self.log_change(request, done, "Retried")
            retried.append(done.public_id)
        if retried:
            self.message_user(
                request,
                f"Requeued {_plural(len(retried), 'failed action')}: {_ids(retried)}.",
                messages.SUCCESS,
            )
        if skipped:
            verb = "is" if len(skipped) == 1 else "are"
            self.message_user(
                request,
                f"Skipped {_plural(len(skipped), 'action')} that {verb} not failed: "
                f"{_ids(skipped)}.",
                messages.WARNING if retried else messages.ERROR,
            )
