"""Cadences with their steps, and enrollments, in the admin.

- **Cadences**: a cadence's page edits the cadence and its steps (an inline in
  step order). Every save goes through `outreach.services.cadences` (`cadence_create` /
  `cadence_update`, `step_create` / `step_update` / `step_delete`); a step's
  form is checked with the service's own `step_errors` first, so a bad template
  shows on its field (`params_template`) exactly as the API would refuse it.
  Unchecking "active" stops the cadence's active enrollments.
- **Preview**: a cadence's page shows, below the steps, what each saved step
  renders to for a sample contact (the workspace's first contact, else the
  built-in Jane Doe: contacts.vocabulary.preview_contact), or why it cannot be
  made for them; its "Preview" button posts the page as it stands to
  `<id>/preview/` (a new tab) and shows the same for the unsaved steps, with the
  errors a save would give (an unknown variable among them). Nothing is written.
- **Enrollments**: read-only, with filters (state, stop reason, cadence) and
  "Stop selected enrollments" (`enrollment_stop`, reason `manual`), which needs
  the change permission on enrollments. An enrollment's page lists its actions.

Tenancy as everywhere in the admin: a superuser sees every workspace, other
staff the workspaces they belong to; workspace, owner and identity choices are
limited to those.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.actors import Actor
from accounts.admin.common import (
    ReadOnlyAdmin,
    ReadOnlyInline,
    WorkspaceScopedAdmin,
    dry_run,
    scope_to_user,
    visible_workspaces,
)
from accounts.models import Membership
from config.exceptions import DomainError
from contacts.vocabulary import preview_contact, preview_contact_label
from outreach import selectors
from outreach.models import (
    Action,
    Cadence,
    CadenceSharing,
    Enrollment,
    EnrollmentState,
    Identity,
    Step,
)
from outreach.services import cadences as services
from outreach.step_templates import (
    SAMPLE_SENDER,
    render_step_params,
    step_context,
    step_vocabulary,
)

STEP_FORM_FIELDS = list(services.STEP_FIELDS)
# A moved step is parked out of the way first, so two steps can swap orders in one save.
PARKING_ORDER = 1_000_000


def _field_for(error_key: str) -> str | None:
    if error_key.startswith("params_template"):
        return "params_template"
    if error_key == "identity_id":
        return "identity"
    return error_key if error_key in STEP_FORM_FIELDS else None


# --- Steps --------------------------------------------------------------------------
class StepForm(forms.ModelForm):
    parent_cadence: Cadence | None = None
    # The formset's vocabulary, shared by its steps (None: step_errors computes it).
    vocabulary: Callable[[], dict[str, Any]] | None = None

    class Meta:
        model = Step
        fields = STEP_FORM_FIELDS
        widgets = {"params_template": forms.Textarea(attrs={"rows": 4, "cols": 50})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order"].required = False
        self.fields["order"].help_text = "Blank: after the last step."
        self.fields["day"].help_text = "1 = the day of enrollment."
        self.fields["params_template"].required = False
        self.fields["params_template"].help_text = (
            "The action's params as JSON; strings are templates over contact (also "
            "endUser), sender, cadence and step, e.g. "
            '{"subject": "Hi {{ contact.firstname }}"}. The recipient defaults to the contact; '
            "an unknown variable is refused. The preview below the steps shows the result."
        )

    def clean(self) -> dict:
        data = super().clean()
        if self.cleaned_data.get("DELETE") or self.parent_cadence is None:
            return data
        values = {field: data.get(field) for field in STEP_FORM_FIELDS}
        if values["params_template"] is None:
            values["params_template"] = {}
        if values["name"] is None:
            values["name"] = ""
        if values["order"] is None:
            values["order"] = self.instance.order or 1  # the service appends it
        if values["day"] is None:
            return data  # the field's own error is shown
        by_field: dict[str | None, list[str]] = {}
        vocabulary = self.vocabulary() if self.vocabulary is not None else None
        checked = services.step_errors(self.parent_cadence, values, vocabulary=vocabulary)
        for key, errors in checked.items():
            field = _field_for(key)
            if field in self.errors:
                continue  # the field's own error says enough
            by_field.setdefault(field, []).extend(
                error if field == key else f"{key}: {error}" for error in errors
            )
        for field, messages_ in by_field.items():
            self.add_error(field, messages_)
        return data


class StepFormSet(BaseInlineFormSet):
    _vocabulary: dict[str, Any] | None = None

    def vocabulary(self) -> dict[str, Any]:
        """step_vocabulary of the cadence's workspace, computed once for all its steps
        (it queries the workspace's custom property names)."""
        if self._vocabulary is None:
            self._vocabulary = step_vocabulary(self.instance.workspace_id)
        return self._vocabulary

    def _construct_form(self, i: int, **kwargs: Any) -> forms.Form:
        form = super()._construct_form(i, **kwargs)
        form.parent_cadence = self.instance  # unsaved on "add": its name and workspace
        form.vocabulary = self.vocabulary
        return form

    @property
    def empty_form(self) -> forms.Form:
        form = super().empty_form
        form.parent_cadence = self.instance
        form.vocabulary = self.vocabulary
        return form

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        orders = [f.cleaned_data["order"] for f in kept if f.cleaned_data.get("order")]
        if len(orders) != len(set(orders)):
            raise forms.ValidationError("Two steps have the same order.")
        for form in self.forms:
            step = form.instance
            if form.cleaned_data.get("DELETE") and step.pk:
                # The service's own rule (a step in use stays), tried and rolled back.
                refused = dry_run(lambda step=step: services.step_delete(step=step))
                if refused is not None:
                    raise forms.ValidationError(refused.message)


class StepInline(admin.TabularInline):
    model = Step
    form = StepForm
    formset = StepFormSet
    fields = STEP_FORM_FIELDS
    ordering = ["order"]
    extra = 1

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "identity":
            kwargs["queryset"] = scope_to_user(
                request, Identity.objects.filter(is_active=True)
            ).select_related("workspace")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- Preview ----------------------------------------------------------------------------
def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def step_preview(
    cadence: Cadence, values: dict[str, Any], contact: dict[str, Any], vocabulary: dict
) -> dict[str, Any]:
    """What one step (STEP_FIELDS `values`) renders to for `contact`: {"order",
    "type", "name", "params": [(key, text)], "errors": [(key, message)]}."""
    identity: Identity | None = values.get("identity")
    sender = (
        {"name": identity.display_name, "address": identity.address}
        if identity is not None
        else SAMPLE_SENDER
    )
    order, day = values.get("order") or 1, values.get("day") or 1
    context = step_context(
        contact=contact,
        sender=sender,
        cadence=cadence,
        step_type=values["type"],
        order=order,
        day=day,
        name=values.get("name") or "",
    )
    params, errors = render_step_params(
        step_type=values["type"],
        params_template=values.get("params_template") or {},
        context=context,
        vocabulary=vocabulary,
    )
    return {
        "order": order,
        "day": day,
        "type": values["type"],
        "name": values.get("name") or "",
        "params": [(key, _shown(value)) for key, value in params.items()],
        "errors": [(key, message) for key, messages_ in errors.items() for message in messages_],
    }


# --- Cadences -------------------------------------------------------------------------
class CadenceForm(forms.ModelForm):
    class Meta:
        model = Cadence
        fields = ["workspace", "name", "owner", "sharing", "is_active"]

    def clean(self) -> dict:
        """The service's rules, on the right fields (it would refuse them anyway)."""
        data = super().clean()
        workspace = data.get("workspace") or getattr(self.instance, "workspace", None)
        owner = data.get("owner")
        member = Membership.objects.filter(workspace=workspace, user=owner)
        if workspace is not None and owner is not None and not member.exists():
            self.add_error("owner", "Not a member of this workspace.")
        if data.get("sharing") == CadenceSharing.PERSONAL and owner is None:
            self.add_error("owner", "A personal cadence needs an owner.")
        return data


@admin.register(Cadence)
class CadenceAdmin(WorkspaceScopedAdmin):
    form = CadenceForm
    inlines = [StepInline]
    list_display = [
        "name",
        "workspace",
        "owner",
        "sharing",
        "is_active",
        "steps_count",
        "active_enrollments",
    ]
    list_filter = ["is_active", "sharing", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name"]
    list_select_related = ["workspace", "owner"]
    readonly_fields = ["created_at", "updated_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Cadence]:
        return selectors.cadences_with_counts(super().get_queryset(request))

    @admin.display(description="Steps", ordering="steps_count")
    def steps_count(self, obj: Cadence) -> int:
        return obj.steps_count

    @admin.display(description="Active enrollments", ordering="active_enrollments_count")
    def active_enrollments(self, obj: Cadence) -> int:
        return obj.active_enrollments_count

    def get_readonly_fields(self, request: HttpRequest, obj: Cadence | None = None) -> list[str]:
        fixed = ["created_at", "updated_at"]
        return fixed if obj is None else [*fixed, "workspace"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # actions and enrollments reference cadences: deactivate instead

    # -- the preview ----------------------------------------------------------------------
    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Cadence | None = None,
    ) -> HttpResponse:
        if obj is not None:
            variables, contact = preview_contact(obj.workspace_id)
            vocabulary = step_vocabulary(obj.workspace_id)
            steps = obj.steps.select_related("identity").order_by("order")
            context["step_previews"] = [
                step_preview(
                    obj, {f: getattr(step, f) for f in STEP_FORM_FIELDS}, variables, vocabulary
                )
                for step in steps
            ]
            context["preview_for"] = preview_contact_label(contact=contact, variables=variables)
            if self.has_change_permission(request, obj):
                context["preview_url"] = reverse(
                    f"admin:{self.opts.app_label}_{self.opts.model_name}_preview", args=[obj.pk]
                )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="{}_{}_preview".format(*info),
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST (the change page as it stands, CSRF-checked by admin_view): each
        step, unsaved, rendered for the sample contact, or the errors a save would
        show. Nothing is written. Needs the change permission on the cadence."""
        cadence = self.get_object(request, unquote(object_id))
        if cadence is None:
            raise Http404
        if not self.has_change_permission(request, cadence):
            raise PermissionDenied
        change_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[cadence.pk]
        )
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        form = self.get_form(request, cadence, change=True)(
            request.POST, request.FILES, instance=copy.copy(cadence)
        )
        posted = form.instance if form.is_valid() else cadence  # its name, for the templates
        variables, contact = preview_contact(cadence.workspace_id)
        vocabulary = step_vocabulary(cadence.workspace_id)
        previews = []
        for formset_class, inline in self.get_formsets_with_inlines(request, cadence):
            if formset_class.model is not Step:
                continue
            formset = formset_class(
                data=request.POST,
                files=request.FILES,
                instance=posted,
                prefix=formset_class.get_default_prefix(),
                queryset=inline.get_queryset(request),
            )
            for step_form in formset.forms:
                if not step_form.has_changed() and step_form.instance.pk is None:
                    continue  # an empty extra row
                if not step_form.is_valid():
                    previews.append(
                        {
                            "order": step_form["order"].value() or "",
                            "type": step_form["type"].value() or "",
                            "name": step_form["name"].value() or "",
                            "params": [],
                            "errors": [
                                (field, message)
                                for field, messages_ in step_form.errors.items()
                                for message in messages_
                            ],
                        }
                    )
                    continue
                if step_form.cleaned_data.get("DELETE"):
                    continue
                values = {f: step_form.cleaned_data.get(f) for f in STEP_FORM_FIELDS}
                previews.append(step_preview(posted, values, variables, vocabulary))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview {posted.name}",
            "subtitle": None,
            "opts": self.opts,
            "original": cadence,
            "change_url": change_url,
            "step_previews": previews,
            "preview_for": preview_contact_label(contact=contact, variables=variables),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/outreach/cadence/preview.html", context)

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

    def save_model(self, request: HttpRequest, obj: Cadence, form, change: bool) -> None:
        data = form.cleaned_data
        actor = Actor.for_user(request.user)
        if change:
            editable = services.CADENCE_EDITABLE
            changes = {f: data[f] for f in form.changed_data if f in editable}
            if changes:
                services.cadence_update(cadence=obj, actor=actor, changes=changes)
            return
        created = services.cadence_create(
            workspace=data["workspace"],
            actor=actor,
            name=data["name"],
            sharing=data["sharing"],
            is_active=data["is_active"],
            owner=data.get("owner"),  # none: the user, if a member (the service decides)
        )
        # Hand the saved row back to the admin so the inlines, log and redirect use it.
        obj.pk = created.pk
        obj.owner = created.owner
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Step:
            return super().save_formset(request, form, formset, change)
        cadence = form.instance
        forms_ = [f for f in formset.forms if f.has_changed() or f.instance.pk]
        for step_form in forms_:
            if step_form.cleaned_data.get("DELETE") and step_form.instance.pk:
                services.step_delete(step=step_form.instance)
        kept = [f for f in forms_ if not f.cleaned_data.get("DELETE")]
        moved = [f for f in kept if f.instance.pk and "order" in f.changed_data]
        for n, step_form in enumerate(moved):
            services.step_update(step=step_form.instance, changes={"order": PARKING_ORDER + n})
        for step_form in kept:
            data = step_form.cleaned_data
            values = {field: data.get(field) for field in STEP_FORM_FIELDS}
            values["params_template"] = values["params_template"] or {}
            values["name"] = values["name"] or ""
            if step_form.instance.pk is None:
                if step_form.has_changed():
                    services.step_create(cadence=cadence, **values)
            elif step_form.changed_data:
                changes = {f: values[f] for f in step_form.changed_data if f in values}
                if changes.get("order") is None:
                    changes.pop("order", None)
                services.step_update(step=step_form.instance, changes=changes)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return None


# --- Enrollments ----------------------------------------------------------------------
class EnrollmentActionInline(ReadOnlyInline):
    model = Action
    fk_name = "enrollment"
    verbose_name = "step action"
    verbose_name_plural = "step actions"
    fields = ["public_id", "step_order", "type", "status", "scheduled_time", "executed_at"]
    ordering = ["id"]

    @admin.display(description="Step")
    def step_order(self, obj: Action) -> str:
        return str(obj.step.order) if obj.step_id else "—"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Action]:
        return super().get_queryset(request).select_related("step")


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin, WorkspaceScopedAdmin):
    """Enrollments are made through the API (POST /v1/cadences/{id}/enrollments)
    and stopped here ("Stop selected enrollments"); never added or edited here."""

    list_display = [
        "id",
        "contact",
        "cadence",
        "user",
        "state",
        "step",
        "stop_reason",
        "started_at",
        "finished_at",
    ]
    list_filter = [
        "state",
        "stop_reason",
        ("cadence", admin.RelatedOnlyFieldListFilter),
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["contact__email", "contact__public_id", "cadence__name"]
    list_select_related = ["contact", "cadence", "user", "current_step", "workspace"]
    inlines = [EnrollmentActionInline]
    actions = ["stop_enrollments"]
    fields = [
        "workspace",
        "cadence",
        "contact",
        "user",
        "state",
        "current_step",
        "stop_reason",
        "stop_note",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    list_per_page = 50

    @admin.display(description="Step", ordering="current_step__order")
    def step(self, obj: Enrollment) -> str:
        return str(obj.current_step.order) if obj.current_step_id else "—"

    def has_stop_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("outreach.change_enrollment")

    @admin.action(description="Stop selected enrollments", permissions=["stop"])
    def stop_enrollments(self, request: HttpRequest, queryset: QuerySet[Enrollment]) -> None:
        actor = Actor.for_user(request.user)
        stopped = skipped = 0
        for enrollment in queryset.filter(state=EnrollmentState.ACTIVE):
            try:
                services.enrollment_stop(
                    enrollment=enrollment,
                    reason="manual",
                    note=f"Stopped in the admin by {request.user.get_username()}.",
                    actor=actor,
                )
                stopped += 1
            except DomainError:
                skipped += 1  # it ended meanwhile
        skipped += queryset.exclude(state=EnrollmentState.ACTIVE).count()
        self.message_user(request, f"Stopped {stopped} enrollment{'s' if stopped != 1 else ''}.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} already ended: nothing was changed for them.",
                level=messages.WARNING,
            )
