"""The reviewers' approval queue: preview, decide, bulk decide."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from rest_framework import serializers

from accounts.actors import Actor
from config.exceptions import Conflict, DomainError, InvalidTransition, ValidationFailed
from outreach import services
from outreach.admin.common import ListIdFilter, ReadOnlyActionAdmin, headline_of, visible_workspaces
from outreach.models import (
    Action,
    ActionStatus,
    ActionType,
    Decision,
    PendingApproval,
)
from outreach.params import PARAMS_SERIALIZERS, summary_of
from outreach.previews import preview_of

# --- The approval queue -------------------------------------------------------
# What a reviewer may change with "Edit and approve", per type.
EDITABLE_PARAMS: dict[str, list[str]] = {
    ActionType.SEND_EMAIL: ["to", "cc", "subject", "body"],
    ActionType.EMAIL_MESSAGE: ["subject", "body"],
    ActionType.LINKEDIN_MESSAGE: ["message"],
    ActionType.SEND_SMS: ["message"],
    ActionType.CALL_CONTACT: ["recipient_name", "script"],
    ActionType.UPDATE_LIFECYCLE_STAGE: ["stage", "reason"],
    ActionType.TASK: ["title", "note"],
}
MULTILINE_PARAMS = {"body": 12, "message": 6, "script": 8, "reason": 3, "note": 4}
PARAM_ERROR = re.compile(r"^params\.(\w+)")
DATETIME_INPUT = "%Y-%m-%dT%H:%M:%S"


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def version_of(action: Action) -> str:
    return action.updated_at.isoformat()


class DecisionForm(forms.Form):
    """One form, three buttons (`decision` = approve | reject | edit).

    The edit fields start with the action's current values; only fields the
    reviewer changed are sent to `action_decide` (a partial update, validated
    there per type: this form adds no rules of its own beyond guarding against
    approving with unsaved edits). Emptying an optional field removes it.
    """

    decision = forms.ChoiceField(choices=Decision.choices)
    # The version the reviewer saw (the action's updated_at): a decision on a page
    # that no longer shows what would be sent is refused (see decide_view).
    seen = forms.CharField(required=False, widget=forms.HiddenInput)
    comment = forms.CharField(
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Stored with the decision; shown in the decision history.",
    )
    scheduled_time = forms.DateTimeField(
        required=False,
        label="Due",
        input_formats=[DATETIME_INPUT, "%Y-%m-%dT%H:%M"],
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "step": "1"}, format=DATETIME_INPUT
        ),
    )

    def __init__(self, action: Action, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.action = action
        self.fields["seen"].initial = version_of(action)
        self.param_fields: list[tuple[str, str, bool]] = []  # (param, form field, required)
        spec = PARAMS_SERIALIZERS[action.type]().fields
        for key in EDITABLE_PARAMS.get(action.type, []):
            required = spec[key].required
            if isinstance(spec[key], serializers.ChoiceField):
                choices = list(spec[key].choices.items())
                field: forms.Field = forms.ChoiceField(
                    choices=choices if required else [("", "—"), *choices]
                )
            elif key in MULTILINE_PARAMS:
                field = forms.CharField(
                    strip=False,
                    widget=forms.Textarea(attrs={"rows": MULTILINE_PARAMS[key], "cols": 80}),
                )
            else:
                field = forms.CharField(strip=False, widget=forms.TextInput(attrs={"size": 80}))
            field.required = False  # emptiness is judged by the service, per type
            field.label = key.replace("_", " ").capitalize()
            field.initial = _as_text((action.params or {}).get(key))
            if key == "cc":
                field.help_text = "Comma-separated addresses."
            if not required:
                field.help_text = f"{field.help_text} Optional; empty removes it.".strip()
            name = f"param_{key}"
            self.fields[name] = field
            self.param_fields.append((key, name, required))
        due = timezone.localtime(action.scheduled_time).replace(microsecond=0)
        self.fields["scheduled_time"].initial = due
        zone = timezone.get_current_timezone_name()
        self.fields["scheduled_time"].help_text = f"Time zone: {zone}."
        # Move the due time after the params.
        self.fields["scheduled_time"] = self.fields.pop("scheduled_time")
        self.param_changes: dict[str, Any] = {}
        self.time_change = None

    def edit_fields(self) -> list[forms.BoundField]:
        return [self[name] for _, name, _ in self.param_fields] + [self["scheduled_time"]]

    def clean(self) -> dict:
        data = super().clean()
        changes: dict[str, Any] = {}
        for key, name, required in self.param_fields:
            if name not in self.data:  # not posted at all: unchanged (an emptied field is "")
                continue
            new = (data.get(name) or "").replace("\r\n", "\n")  # browsers send CRLF
            if new == self.fields[name].initial:
                continue
            changes[key] = new if new or required else None
        new_time = data.get("scheduled_time")
        time_changed = new_time is not None and new_time != self.fields["scheduled_time"].initial
        self.param_changes = changes
        self.time_change = new_time if time_changed else None

        edited = sorted(changes) + (["due"] if time_changed else [])
        decision = data.get("decision")
        if decision == Decision.EDIT and not edited:
            raise forms.ValidationError(
                "Nothing was changed: edit the fields under “Edit before approving”, "
                "or use Approve."
            )
        if decision == Decision.APPROVE and edited:
            raise forms.ValidationError(
                f"You changed {', '.join(edited)}: click “Edit and approve” to apply the "
                "changes, or reload the page to discard them."
            )
        return data

    def service_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "decision": self.cleaned_data["decision"],
            "comment": self.cleaned_data["comment"],
        }
        if kwargs["decision"] == Decision.EDIT:
            kwargs["params"] = self.param_changes or None
            kwargs["scheduled_time"] = self.time_change
        return kwargs

    def add_service_errors(self, fields: dict[str, list[str]]) -> None:
        """Show a ValidationFailed's `params.subject`-style errors on the fields."""
        for path_, errors in fields.items():
            match = PARAM_ERROR.match(path_)
            name: str | None = None
            if match and f"param_{match.group(1)}" in self.fields:
                name = f"param_{match.group(1)}"
            elif path_ == "scheduled_time":
                name = "scheduled_time"
            for error in errors:
                self.add_error(name, error if name else f"{path_}: {error}")


class BulkDecisionForm(forms.Form):
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Stored with every decision; optional.",
    )


@admin.register(PendingApproval)
class PendingApprovalAdmin(ReadOnlyActionAdmin):
    list_display = [
        "due",
        "public_id",
        "type",
        "recipient",
        "headline",
        "identity",
        "owner",
        "list_id",
        "workspace",
    ]
    list_display_links = ["due", "public_id"]
    list_filter = [
        "type",
        ("identity", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
        ListIdFilter,
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    ordering = ["scheduled_time", "id"]  # oldest due first
    actions = ["approve_selected", "reject_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(status=ActionStatus.PENDING_APPROVAL)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        if visible_workspaces(request)[:2].count() < 2:
            columns.remove("workspace")  # one workspace: the column says nothing
        return columns

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {"title": "Approval queue: oldest due first", **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="{}_{}_decide".format(*info),
            ),
            *super().get_urls(),
        ]

    def _changelist_url(self, request: HttpRequest) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context = {"opts": self.opts, "preserved_filters": self.get_preserved_filters(request)}
        return add_preserved_filters(context, url)

    # -- detail page ----------------------------------------------------------
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        if object_id.isdigit() and not self.get_queryset(request).filter(pk=object_id).exists():
            decided = self.scoped_actions(request).filter(pk=object_id).first()
            if decided is not None:  # decided meanwhile: show it in the action list
                self.message_user(
                    request,
                    f"{decided.public_id} is no longer awaiting approval (it is {decided.status}).",
                    messages.INFO,
                )
                return HttpResponseRedirect(
                    reverse("admin:outreach_action_change", args=[decided.pk])
                )
        return super().change_view(request, object_id, form_url, extra_context)

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
            context["title"] = f"Review {obj.public_id}: {summary_of(obj.type, obj.params)}"
            context["preview"] = preview_of(obj)
            context["can_decide"] = self.has_approve_permission(request)
            context.setdefault("decision_form", DecisionForm(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- decisions --------------------------------------------------------------
    @staticmethod
    def _report_conflict(request: HttpRequest, action: Action) -> None:
        status = Action.objects.filter(pk=action.pk).values_list("status", flat=True).first()
        messages.error(
            request,
            f"{action.public_id} was already decided by someone else (it is now {status}); "
            "nothing was changed.",
        )

    def _changed_since_opened(self, request: HttpRequest, action: Action) -> HttpResponse:
        messages.warning(
            request,
            f"{action.public_id} changed since you opened it; nothing was decided. "
            "Review it again.",
        )
        url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[action.pk]
        )
        context = {"opts": self.opts, "preserved_filters": self.get_preserved_filters(request)}
        return HttpResponseRedirect(add_preserved_filters(context, url))

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return require_POST(self._decide)(request, object_id)

    def _decide(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_approve_permission(request):
            raise PermissionDenied
        if not object_id.isdigit():
            raise Http404
        action = get_object_or_404(self.scoped_actions(request), pk=object_id)
        seen = request.POST.get("seen")
        if seen and seen != version_of(action) and action.status == ActionStatus.PENDING_APPROVAL:
            # Changed since the page was rendered: decide only on what was previewed.
            return self._changed_since_opened(request, action)
        form = DecisionForm(action, request.POST)
        if form.is_valid():
            try:
                decided = services.action_decide(
                    action=action,
                    actor=Actor.for_user(request.user),
                    # Checked again under the row lock: no window between the
                    # version check above and the decision.
                    expected_updated_at=action.updated_at if seen else None,
                    **form.service_kwargs(),
                )
            except InvalidTransition:
                self._report_conflict(request, action)
                return HttpResponseRedirect(self._changelist_url(request))
            except Conflict:
                return self._changed_since_opened(request, action)
            except ValidationFailed as exc:
                form.add_service_errors(exc.fields)
            except DomainError as exc:
                messages.error(request, f"{action.public_id}: {exc.message}")
                return HttpResponseRedirect(self._changelist_url(request))
            else:
                verb = {
                    Decision.APPROVE: "Approved",
                    Decision.REJECT: "Rejected",
                    Decision.EDIT: "Edited and approved",
                }[form.cleaned_data["decision"]]
                comment = form.cleaned_data["comment"]
                self.log_change(request, decided, f"{verb}{': ' + comment if comment else ''}")
                summary = summary_of(decided.type, decided.params)
                messages.success(request, f"{verb} {decided.public_id}: {summary}.")
                return HttpResponseRedirect(self._changelist_url(request))
        if action.status != ActionStatus.PENDING_APPROVAL:
            self._report_conflict(request, action)
            return HttpResponseRedirect(self._changelist_url(request))
        # Show the page again with the reviewer's input and the errors. The
        # admin's change view only renders on GET (this model is read-only).
        request.method = "GET"
        response = self.change_view(request, object_id, extra_context={"decision_form": form})
        response.status_code = 400
        return response

    # -- bulk decisions ---------------------------------------------------------
    @admin.action(description="Approve selected actions", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._bulk_decide(request, queryset, Decision.APPROVE)

    @admin.action(description="Reject selected actions", permissions=["approve"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._bulk_decide(request, queryset, Decision.REJECT)

    def _bulk_decide(
        self, request: HttpRequest, queryset: QuerySet, decision: str
    ) -> HttpResponse | None:
        verb, done = {
            Decision.APPROVE: ("approve", "Approved"),
            Decision.REJECT: ("reject", "Rejected"),
        }[decision]
        if request.POST.get("post") == "yes":
            form = BulkDecisionForm(request.POST)
            if form.is_valid():
                # The ids the reviewer confirmed, looked up whatever their status
                # now, so one decided meanwhile is reported rather than dropped.
                pks = [pk for pk in request.POST.getlist(ACTION_CHECKBOX_NAME) if pk.isdigit()]
                scoped = self.scoped_actions(request)
                ids = list(
                    scoped.filter(pk__in=pks)
                    .order_by("scheduled_time", "id")
                    .values_list("public_id", flat=True)
                )
                try:
                    outcomes = services.action_bulk_decide(
                        actions=scoped,
                        action_ids=ids,
                        actor=Actor.for_user(request.user),
                        decision=decision,
                        comment=form.cleaned_data["comment"],
                    )
                except ValidationFailed as exc:  # e.g. more than BULK_LIMIT ids
                    detail = "; ".join(m for ms in exc.fields.values() for m in ms)
                    self.message_user(request, detail or exc.message, messages.ERROR)
                    return None
                self._report_bulk(request, outcomes, verb, done, form.cleaned_data["comment"])
                return None  # back to the queue
        else:
            form = BulkDecisionForm()
        count = queryset.count()
        if count > services.BULK_LIMIT:
            self.message_user(
                request,
                f"Select at most {services.BULK_LIMIT} actions at once ({count} selected).",
                messages.ERROR,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb.capitalize()} {count} action{'s' if count != 1 else ''}?",
            "opts": self.opts,
            "rows": [
                {
                    "action": action,
                    "summary": summary_of(action.type, action.params or {}),
                    "headline": headline_of(action),
                }
                for action in queryset.select_related("identity").order_by("scheduled_time", "id")
            ],
            "action_name": f"{verb}_selected",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "verb": verb,
            "count": count,
            "form": form,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/outreach/pendingapproval/bulk_decision_confirmation.html", context
        )

    def _report_bulk(
        self, request: HttpRequest, outcomes: list, verb: str, done: str, comment: str
    ) -> None:
        succeeded = [o for o in outcomes if o.ok]
        failed = [o for o in outcomes if not o.ok]
        for outcome in succeeded:
            self.log_change(request, outcome.action, f"{done}{': ' + comment if comment else ''}")
        if succeeded:
            self.message_user(
                request,
                f"{done} {len(succeeded)} action{'s' if len(succeeded) != 1 else ''}: "
                f"{', '.join(o.action_id for o in succeeded[:20])}"
                f"{' …' if len(succeeded) > 20 else ''}.",
                messages.SUCCESS,
            )
        if failed:
            reasons = "; ".join(
                "{}: {}".format(
                    o.action_id,
                    "already decided by someone else"
                    if isinstance(o.error, InvalidTransition)
                    else o.error.message,
                )
                for o in failed[:20]
            )
            self.message_user(
                request,
                f"Could not {verb} {len(failed)} action{'s' if len(failed) != 1 else ''}: "
                f"{reasons}{' …' if len(failed) > 20 else ''}.",
                messages.ERROR if not succeeded else messages.WARNING,
            )
        if not outcomes:
            self.message_user(request, "None of the selected actions exist.", messages.WARNING)
