"""The accounts admin: workspaces (with their members), memberships and API keys.

`accounts.admin.common` holds what every app's admin builds on: workspace tenancy
(`WorkspaceScopedAdmin`, `visible_workspaces`, `scope_to_user`), the rolled-back
`dry_run` of a service call, and `ReadOnlyInline`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.models import ApiKey, Membership, Scope, Workspace
from config.exceptions import DomainError


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class WorkspaceForm(forms.ModelForm):
    """The Slack webhook URL is a secret (its path is the credential): write-only.
    The field is never filled in; typing a URL replaces it, "clear" removes it."""

    # Not the model field's name: the admin would then write the blank into it.
    new_approval_slack_webhook_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Approval Slack webhook URL",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A Slack-compatible incoming webhook for approval requests. Write-only: "
        "leave blank to keep the current one.",
    )
    clear_approval_slack_webhook_url = forms.BooleanField(
        required=False, label="Remove the Slack webhook URL"
    )

    class Meta:
        model = Workspace
        fields = ["name", "timezone"]

    def save(self, commit: bool = True) -> Workspace:
        workspace = super().save(commit=False)
        if self.cleaned_data.get("clear_approval_slack_webhook_url"):
            workspace.approval_slack_webhook_url = ""
        elif self.cleaned_data.get("new_approval_slack_webhook_url"):
            workspace.approval_slack_webhook_url = self.cleaned_data[
                "new_approval_slack_webhook_url"
            ]
        if commit:
            workspace.save()
        return workspace


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    form = WorkspaceForm
    fields = [
        "name",
        "timezone",
        "new_approval_slack_webhook_url",
        "clear_approval_slack_webhook_url",
        "public_id",
        "created_at",
    ]
    list_display = ["name", "public_id", "timezone", "created_at"]
    search_fields = ["name", "public_id"]
    readonly_fields = ["public_id", "created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "timezone", "approval_emails", "created_at"]
    list_filter = ["role", "approval_emails", "workspace"]
    search_fields = ["user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ApiKey
        fields = ["workspace", "user", "name", "scopes"]

    def clean(self) -> dict:
        data = super().clean()
        workspace, user = data.get("workspace"), data.get("user")
        if (
            workspace
            and user
            and not Membership.objects.filter(workspace=workspace, user=user).exists()
        ):
            self.add_error("user", "This user is not a member of the workspace.")
        return data


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "public_id",
        "workspace",
        "user",
        "scope_list",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["workspace", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__email", "workspace__name"]
    list_select_related = ["workspace", "user"]
    actions = ["revoke_keys"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["workspace", "user", "name", "scopes"]
        return [
            "name",
            "public_id",
            "workspace",
            "user",
            "scope_list",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        # Scopes are fixed for a key's life: to change them, create a new key.
        return [
            "public_id",
            "workspace",
            "user",
            "scope_list",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        key, secret = services.api_key_create(
            workspace=form.cleaned_data["workspace"],
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
        )
        # Hand the saved row back to the admin so its log and redirect use it.
        obj.__dict__.update({k: v for k, v in key.__dict__.items() if not k.startswith("_")})
        obj._state.adding = False
        messages.warning(
            request,
            f"Copy this API key now; it is not stored and will not be shown again: {secret}",
        )

    @admin.action(description="Revoke selected API keys")
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = 0
        for key in queryset:
            try:
                services.api_key_revoke(api_key=key)
                revoked += 1
            except DomainError:
                pass  # already revoked
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


from accounts.admin import jobs  # noqa: E402, F401  (registers the background jobs' admin)
