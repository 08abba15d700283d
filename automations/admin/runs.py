"""Hook runs, read-only, with their steps: what ran, in which order, and why a
step was skipped or failed. Runs are written by the engine only."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.admin.common import ReadOnlyAdmin, ReadOnlyInline, WorkspaceScopedAdmin
from automations.models import HookRun, HookStep, StepStatus


def _json_block(value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<pre class="run-json">{}</pre>', text)


class HookStepInline(ReadOnlyInline):
    model = HookStep
    fields = [
        "position",
        "definition_name",
        "status",
        "due_at",
        "attempts",
        "error",
        "result_json",
        "outreach_action",
        "finished_at",
    ]
    verbose_name = "step"
    verbose_name_plural = "steps (in order)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("outreach_action").order_by("position")

    @admin.display(description="Result")
    def result_json(self, obj: HookStep) -> str:
        return _json_block(obj.result) if obj.result else "—"


@admin.register(HookRun)
class HookRunAdmin(ReadOnlyAdmin, WorkspaceScopedAdmin):
    list_display = [
        "id",
        "hook_name",
        "status",
        "step_summary",
        "channel",
        "contact",
        "created_at",
        "finished_at",
        "workspace",
    ]
    list_filter = ["hook_name", "status", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["hook_name", "contact__email", "conversation__public_id"]
    search_help_text = "Search by hook, contact email or conversation id."
    list_select_related = ["channel", "contact", "workspace"]
    list_per_page = 50
    date_hierarchy = "created_at"
    fields = [
        "workspace",
        "hook_name",
        "status",
        "channel",
        "contact",
        "conversation",
        "next_stage",
        "created_at",
        "finished_at",
        "context_json",
    ]
    readonly_fields = fields
    inlines = [HookStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                step_total=Count("steps"),
                failed_total=Count("steps", filter=Q(steps__status=StepStatus.FAILED)),
            )
        )

    @admin.display(description="Steps")
    def step_summary(self, obj: HookRun) -> str:
        total, failed = getattr(obj, "step_total", 0), getattr(obj, "failed_total", 0)
        return f"{total} ({failed} failed)" if failed else str(total)

    @admin.display(description="Context")
    def context_json(self, obj: HookRun) -> str:
        return _json_block(obj.context)
