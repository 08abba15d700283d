"""Every action, read-only: status changes only through services."""

from __future__ import annotations

from django.contrib import admin

from outreach.admin.common import ACTION_FIELDSETS, ListIdFilter, ReadOnlyActionAdmin
from outreach.models import (
    Action,
)


@admin.register(Action)
class ActionAdmin(ReadOnlyActionAdmin):
    list_display = [
        "public_id",
        "type",
        "status",
        "due",
        "recipient",
        "headline",
        "identity",
        "owner",
        "workspace",
        "created_at",
    ]
    list_filter = [
        "status",
        "type",
        ("identity", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
        ListIdFilter,
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    fieldsets = [(None, {"fields": ["preview"]}), *ACTION_FIELDSETS]
    date_hierarchy = "created_at"
