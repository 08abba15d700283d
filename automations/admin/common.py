"""Shared pieces of the automations admin: tenancy of choices, service-backed
forms (validated by a rolled-back dry run of the very service call the save
makes), and the one-per-line list field."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.contrib import messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms.models import construct_instance
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from accounts.admin.common import (
    WorkspaceScopedAdmin,
    dry_run,
    scope_to_user,
    visible_workspaces,
)
from accounts.models import Membership, Workspace
from config.exceptions import DomainError

# The workspace the choices of the form being built are limited to (set on the
# request, which is per request, never on the shared admin instance).
_SCOPE_ATTR = "_automations_choice_workspace_id"


# --- Tenancy of choices ------------------------------------------------------------
def remember_scope(request: HttpRequest, obj: models.Model | None) -> None:
    """Limit the choices of the forms built next to `obj`'s workspace (none: every
    workspace the user may see)."""
    setattr(request, _SCOPE_ATTR, getattr(obj, "workspace_id", None))


def scoped_choices(request: HttpRequest, model: type[models.Model]) -> QuerySet:
    workspace_id = getattr(request, _SCOPE_ATTR, None)
    if model is Workspace:
        queryset = visible_workspaces(request)
        return queryset.filter(pk=workspace_id) if workspace_id else queryset
    queryset = scope_to_user(request, model._default_manager.all())
    return queryset.filter(workspace_id=workspace_id) if workspace_id else queryset


class ScopedChoicesMixin:
    """Every foreign key choice (workspace, topic, channel, action) is limited to
    the user's workspaces, and to the object's own workspace once it has one."""

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        kwargs["queryset"] = scoped_choices(request, db_field.related_model)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def single_workspace(request: HttpRequest) -> Workspace | None:
    """The user's only workspace, when they have exactly one (it is preselected)."""
    workspaces = list(visible_workspaces(request)[:2])
    return workspaces[0] if len(workspaces) == 1 else None


def time_zone_for(user: Any, workspace: Workspace) -> str:
    """The user's timezone in `workspace` (its own timezone when the member set none),
    the default for a definition's schedule as on the API."""
    membership = Membership.objects.filter(user_id=user.pk, workspace=workspace).first()
    if membership is None:
        return workspace.timezone
    membership.workspace = workspace
    return membership.effective_timezone


class ServiceAdmin(ScopedChoicesMixin, WorkspaceScopedAdmin):
    """Workspace-scoped, writes through the services. A service error at save time
    (someone changed the data between validation and save) rolls the whole page
    back (the admin's transaction) and is reported instead of a crash."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        remember_scope(request, obj)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        only = single_workspace(request)
        if only is not None:
            initial.setdefault("workspace", only.pk)
        return initial

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except DomainError as exc:
            self.message_user(request, f"Nothing was saved: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


# --- Service-backed forms -------------------------------------------------------------
def add_service_errors(
    form: forms.BaseForm,
    exc: DomainError,
    names: Mapping[str, str],
    *,
    describe: Callable[[str, str], str] | None = None,
) -> None:
    """Show a service's `fields` errors ({"apiHeaders": [...], "keywords[2]": [...]})
    on the form's fields. `names` maps the service's names to form fields; an entry
    `name[i]` lands on `name`, described by `describe(key, message)`. A field that
    already has an error of the form's own keeps only that one; errors of fields the
    form does not show become errors of the whole form, named."""
    had_errors = set(form.errors)
    for key, errors in exc.fields.items():
        base = key.split("[", 1)[0]
        name = names.get(key) or names.get(base)
        for error in errors:
            message = describe(key, error) if describe and key != base else error
            if name in form.fields:
                if name in had_errors:
                    continue
                form.add_error(name, message)
            else:
                form.add_error(None, f"{key}: {error}")
    if not exc.fields:
        form.add_error(None, exc.message)


class ServiceModelForm(forms.ModelForm):
    """A ModelForm saved by a service. `clean()` runs `save_through_services` inside
    a rolled-back savepoint, so the service's own checks (the same as the API's)
    show on the fields and nothing is written until the whole page is valid. Model
    validation is left to the services; the instance is still built from the form,
    because the inlines read its workspace."""

    # Service error names -> form fields.
    service_names: Mapping[str, str] = {}

    def _post_clean(self) -> None:
        opts = self._meta
        self.instance = construct_instance(self, self.instance, opts.fields, opts.exclude)

    def target_workspace(self) -> Workspace | None:
        if self.instance.workspace_id:
            return self.instance.workspace
        return self.cleaned_data.get("workspace")

    def working_copy(self, dry: bool) -> Any:
        """The instance a service call may change: a copy in a dry run."""
        return copy.copy(self.instance) if dry else self.instance

    def save_through_services(self, *, dry: bool = False) -> Any:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.target_workspace() is None:
            return data  # "workspace: required" is shown already
        error = dry_run(lambda: self.save_through_services(dry=True))
        if error is not None:
            add_service_errors(self, error, self.service_names, describe=self.describe_item)
        return data

    def describe_item(self, key: str, message: str) -> str:
        return f"{key}: {message}"


def save_service_form(form: ServiceModelForm, obj: models.Model) -> None:
    """ModelAdmin.save_model for a ServiceModelForm: the admin goes on with `obj`
    (inlines, log, redirect), so make it the saved row."""
    saved = form.save_through_services()
    if saved is not obj:
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False


# --- Lists edited one per line ----------------------------------------------------------
class LinesField(forms.Field):
    """A JSON list of strings edited as a textarea, one entry per line. Blank lines
    are dropped and each entry is stripped."""

    widget = forms.Textarea

    def __init__(self, *args: Any, rows: int = 4, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": rows, "cols": 60}))
        super().__init__(*args, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        return [line.strip() for line in str(value).splitlines() if line.strip()]

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial) != self.to_python(data)
