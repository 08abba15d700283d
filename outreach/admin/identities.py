"""Identities, created and edited through the identity services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin.common import WorkspaceScopedAdmin, visible_workspaces
from config.exceptions import DomainError, ValidationFailed
from outreach import services
from outreach.models import (
    Identity,
)

# --- Identities ------------------------------------------------------------------
WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class IdentityForm(forms.ModelForm):
    window_days = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Days on which sends may go out.",
    )

    class Meta:
        model = Identity
        fields = [
            "workspace",
            "channel",
            "address",
            "display_name",
            "owner",
            "daily_limit",
            "window_days",
            "window_start",
            "window_end",
            "timezone",
        ]

    def clean(self) -> dict:
        data = super().clean()
        channel = data.get("channel") or self.instance.channel
        address = data.get("address")
        if not (channel and address):
            return data
        try:
            # The service's own check, so the admin and the API agree.
            data["address"] = services.identity_clean_address(channel, address)
        except ValidationFailed as exc:
            for error in exc.fields.get("address", [exc.message]):
                self.add_error("address", error)
            return data
        # On add, the model's unique constraint is checked by the form itself; on
        # change, workspace and channel are read-only, so check here.
        if self.instance.pk:
            duplicate = (
                Identity.objects.filter(
                    workspace_id=self.instance.workspace_id,
                    channel=channel,
                    address=data["address"],
                )
                .exclude(pk=self.instance.pk)
                .exists()
            )
            if duplicate:
                self.add_error("address", "This workspace already has this identity.")
        return data


@admin.register(Identity)
class IdentityAdmin(WorkspaceScopedAdmin):
    form = IdentityForm
    list_display = ["__str__", "channel", "public_id", "workspace", "owner", "is_active"]
    list_filter = ["channel", "is_active", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["address", "display_name", "public_id"]
    list_select_related = ["workspace", "owner"]
    actions = ["deactivate_identities"]

    def get_readonly_fields(self, request: HttpRequest, obj: Identity | None = None) -> list[str]:
        fixed = ["public_id", "is_active", "created_at", "updated_at"]
        # Channel, workspace and owner are fixed once created (identity_update's rule).
        return fixed if obj is None else [*fixed, "workspace", "channel", "owner"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # actions reference identities: deactivate instead

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "workspace":
            kwargs["queryset"] = visible_workspaces(request)
        elif db_field.name == "owner" and not request.user.is_superuser:
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(memberships__workspace__in=visible_workspaces(request))
                .distinct()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Identity, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            changes = {f: data[f] for f in form.changed_data if f in services.IDENTITY_EDITABLE}
            services.identity_update(identity=obj, changes=changes)
            return
        created = services.identity_create(
            workspace=data["workspace"],
            channel=data["channel"],
            address=data["address"],
            display_name=data.get("display_name", ""),
            owner=data.get("owner"),
            daily_limit=data.get("daily_limit"),
            window_days=data.get("window_days") or None,
            window_start=data.get("window_start"),
            window_end=data.get("window_end"),
            timezone_name=data.get("timezone", ""),
        )
        # Hand the saved row back to the admin so its log and redirect use it.
        obj.pk = created.pk
        obj.public_id = created.public_id
        obj._state.adding = False

    @admin.action(description="Deactivate selected identities", permissions=["change"])
    def deactivate_identities(self, request: HttpRequest, queryset: QuerySet[Identity]) -> None:
        done = 0
        for identity in queryset:
            try:
                services.identity_deactivate(identity=identity)
                done += 1
            except DomainError:
                pass  # already deactivated
        self.message_user(request, f"Deactivated {done} identit{'y' if done == 1 else 'ies'}.")
