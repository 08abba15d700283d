"""The reviewers' approval queue: preview, decide, bulk decide.

The review page walks the queue: it knows where the action sits in the queue
the reviewer came from (the changelist's filters, search and ordering, which
the admin carries along as `_changelist_filters`; else the queue's default,
oldest due first), links the previous and next items, and after a decision
opens the next pending item (wrapping round to the first one skipped), or goes
back to the queue with a message when none is left. Single-key shortcuts
(outreach/static/outreach/review_keys.js): `a` approve, `r` reject (focuses the
comment; Enter rejects, Esc cancels), `j`/`n` next, `k`/`p` previous; they are
ignored while typing in a field.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldError, PermissionDenied, ValidationError
from django.db.models import Count, F, QuerySet, Window
from django.db.models.functions import FirstValue, Lag, Lead, RowNumber
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from rest_framework import serializers

from accounts.actors import Actor
from accounts.admin.common import visible_workspaces
from config.exceptions import Conflict, DomainError, InvalidTransition, ValidationFailed
from outreach import services
from outreach.admin.common import ListIdFilter, ReadOnlyActionAdmin, headline_of
from outreach.admin.reviewer_time import (
    WHEN_FORMAT,
    WHEN_PLACEHOLDER,
    rendered_in_zone,
    zone_label,
)
from outreach.bulk_jobs import BACKGROUND_THRESHOLD, action_bulk_decide_start
from outreach.models import (
    DECIDED,
    Action,
    ActionStatus,
    ActionType,
    Decision,
    PendingApproval,
)
from outreach.params import PARAMS_SERIALIZERS
from outreach.previews import (
    attach_reply_threads,
    param_text,
    preview_of,
    recipient_label,
    summary,
    thread_reply_subject,
)
from outreach.selectors import pending_per_reviewer

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
# The due time is typed in the format every time on these pages uses (a
# datetime-local input would show the browser's locale format instead); the
# ISO forms with a "T" and with seconds are accepted too.
DATETIME_INPUTS = [WHEN_FORMAT, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


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
        label="When",
        input_formats=DATETIME_INPUTS,
        widget=forms.DateTimeInput(
            attrs={"size": 16, "placeholder": WHEN_PLACEHOLDER, "autocomplete": "off"},
            format=WHEN_FORMAT,
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
            field.initial = param_text((action.params or {}).get(key))
            if key == "cc":
                field.help_text = "Comma-separated addresses."
            if key == "subject" and action.type == ActionType.EMAIL_MESSAGE:
                # Empty means the thread's subject: say which, as the preview does.
                default = thread_reply_subject(action)
                if default:
                    field.widget.attrs["placeholder"] = default
                    field.help_text = f"Empty sends “{default}”, from the thread."
            if not required:
                field.help_text = f"{field.help_text} Optional; empty removes it.".strip()
            name = f"param_{key}"
            self.fields[name] = field
            self.param_fields.append((key, name, required))
        # Shown to the minute, like every time on these pages; left as shown it is
        # unchanged (clean compares with this), so the stored seconds are kept.
        due = timezone.localtime(action.scheduled_time).replace(second=0, microsecond=0)
        self.fields["scheduled_time"].initial = due
        # Parsed in the active zone, the reviewer's (the views run in it).
        self.zone_name = timezone.get_current_timezone_name()
        self.zone_label = zone_label(action.scheduled_time)
        self.fields["scheduled_time"].help_text = (
            f"{WHEN_PLACEHOLDER}, in your time zone, {self.zone_name} "
            f"({self.zone_label} at the time shown)."
        )
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


@dataclass(frozen=True)
class QueuePlace:
    """Where an action sits in the queue the reviewer came from (1-based)."""

    position: int
    total: int
    previous_pk: int | None
    next_pk: int | None
    first_pk: int

    def after_decision(self, decided_pk: int) -> int | None:
        """The item to open once `decided_pk` is decided: the next one, else the
        first one (skipped earlier), else none."""
        if self.next_pk is not None:
            return self.next_pk
        return self.first_pk if self.first_pk != decided_pk else None


class _OrderOnlyChangeList(ChangeList):
    """The changelist's filtered, searched, ordered queryset, without fetching a page."""

    def get_results(self, request: HttpRequest) -> None:
        pass


class BulkDecisionForm(forms.Form):
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="Stored with every decision; optional.",
    )


@admin.register(PendingApproval)
class PendingApprovalAdmin(ReadOnlyActionAdmin):
    # Compact columns so the queue fits 1440 px with both sidebars open (see
    # templates/admin/outreach/pendingapproval/change_list.html): the due time
    # over its zone, the id over its type, the recipient over the sender's name
    # (its address on hover), the owner over the list.
    list_display = [
        "due",
        "action_label",
        "recipient_and_sender",
        "headline",
        "owner_and_list",
        "workspace",
    ]
    list_display_links = ["due", "action_label"]
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

    # -- columns ----------------------------------------------------------------
    @admin.display(description="Action", ordering="type")
    def action_label(self, obj: Action) -> str:
        return format_html(
            '<span class="action-id">{}</span> <span class="quiet">{}</span>',
            obj.public_id,
            obj.get_type_display(),
        )

    @admin.display(description="Recipient / sender")
    def recipient_and_sender(self, obj: Action) -> str:
        identity = obj.identity
        return format_html(
            '<span class="recipient">{}</span> <span class="quiet" title="{}">from {}</span>',
            recipient_label(obj),
            identity.address,
            identity.display_name or identity.address,
        )

    @admin.display(description="Owner / list", ordering="owner__username")
    def owner_and_list(self, obj: Action) -> str:
        owner = obj.owner.get_username() if obj.owner else "—"
        if not obj.list_id:
            return owner
        return format_html('{} <span class="quiet" title="List">{}</span>', owner, obj.list_id)

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        if getattr(request, "_outreach_order_only", False):
            return _OrderOnlyChangeList
        return super().get_changelist(request, **kwargs)

    # -- walking the queue ----------------------------------------------------------
    def _queue_as_listed(self, request: HttpRequest) -> QuerySet:
        """The queue with the filters, search and ordering of the changelist the
        reviewer came from (`_changelist_filters`), else the default ordering."""
        listed = request.GET.get("_changelist_filters", "")
        if listed:
            listing = copy.copy(request)
            listing.GET = QueryDict(listed)
            listing._outreach_order_only = True
            try:
                queue = self.get_changelist_instance(listing).queryset
            except (IncorrectLookupParameters, FieldError, ValidationError, ValueError):
                queue = None  # a hand-edited query string: the default order will do
            if queue is not None and not queue.query.distinct:  # distinct rows: see below
                return queue
        return self.get_queryset(request).order_by(*self.ordering)

    def queue_place(self, request: HttpRequest, action: Action) -> QueuePlace:
        """The action's place in the listed queue, in one query whatever its size.
        The action itself counts whatever its status now (it may just have been
        decided) so that "next" means the one after it."""
        queue = self._queue_as_listed(request)
        ordering = [*queue.query.order_by] or [*self.ordering]
        # (A DISTINCT queue, from a search across a to-many relation, could not be
        # OR-ed with the action: _queue_as_listed falls back to the default then.)
        rows = queue | self.model._default_manager.filter(pk=action.pk)

        def over(function: Any) -> Window:
            return Window(function, order_by=ordering)

        place = (
            rows.order_by()
            .annotate(
                # A window, so that filtering on it picks the row after the
                # other windows have seen the whole queue.
                this_pk=Window(FirstValue("pk"), partition_by=[F("pk")]),
                position=over(RowNumber()),
                total=Window(Count("pk")),
                previous_pk=over(Lag("pk")),
                next_pk=over(Lead("pk")),
                first_pk=over(FirstValue("pk")),
            )
            .filter(this_pk=action.pk)
            .values_list("position", "total", "previous_pk", "next_pk", "first_pk")
            .first()
        )
        if place is None:  # not visible to this user: a queue of one
            return QueuePlace(1, 1, None, None, action.pk)
        return QueuePlace(*place)

    def _review_url(self, request: HttpRequest, pk: int) -> str:
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[pk])
        context = {"opts": self.opts, "preserved_filters": self.get_preserved_filters(request)}
        return add_preserved_filters(context, url)

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        if visible_workspaces(request)[:2].count() < 2:
            columns.remove("workspace")  # one workspace: the column says nothing
        return columns

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            "title": "Approval queue: oldest due first",
            # One query: each reviewer's notified-and-undecided and workspace counts.
            "reviewer_counts": pending_per_reviewer(workspaces=visible_workspaces(request)),
            **(extra_context or {}),
        }
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
            context["preview"] = preview_of(obj)  # looks a drafted reply's thread up
            context["title"] = f"Review {obj.public_id}: {summary(obj)}"
            context["can_decide"] = self.has_approve_permission(request)
            context.setdefault("decision_form", DecisionForm(obj))
            place = self.queue_place(request, obj)
            context["queue_place"] = place
            context["previous_url"] = (
                self._review_url(request, place.previous_pk) if place.previous_pk else ""
            )
            context["next_url"] = self._review_url(request, place.next_pk) if place.next_pk else ""
            context["queue_url"] = self._changelist_url(request)
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
        # In the reviewer's zone: the edit field's time is parsed in the zone it showed.
        return rendered_in_zone(request, require_POST(self._decide), object_id)

    def _open_next(self, request: HttpRequest, decided: Action) -> HttpResponse:
        """After a decision: the next pending item of the queue the reviewer came
        from, or the queue with a message when none is left."""
        next_pk = self.queue_place(request, decided).after_decision(decided.pk)
        if next_pk is None:
            messages.info(request, "Nothing else awaits approval here.")
            return HttpResponseRedirect(self._changelist_url(request))
        return HttpResponseRedirect(self._review_url(request, next_pk))

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
                verb = DECIDED[form.cleaned_data["decision"]]
                comment = form.cleaned_data["comment"]
                self.log_change(request, decided, f"{verb}{': ' + comment if comment else ''}")
                attach_reply_threads([decided])
                messages.success(request, f"{verb} {decided.public_id}: {summary(decided)}.")
                return self._open_next(request, decided)
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
        verb = {Decision.APPROVE: "approve", Decision.REJECT: "reject"}[decision]
        done = DECIDED[decision]
        across = request.POST.get("select_across") == "1"
        if request.POST.get("post") == "yes":
            form = BulkDecisionForm(request.POST)
            if form.is_valid():
                # The ids the reviewer confirmed, looked up whatever their status
                # now, so one decided meanwhile is reported rather than dropped.
                pks = [pk for pk in request.POST.getlist(ACTION_CHECKBOX_NAME) if pk.isdigit()]
                scoped = self.scoped_actions(request)
                # "Select all N" counts what is pending now (its filters re-applied).
                targets = queryset if across else scoped.filter(pk__in=pks)
                if (queryset.count() if across else len(pks)) > BACKGROUND_THRESHOLD:
                    return self._bulk_decide_in_background(
                        request, targets, decision, form.cleaned_data["comment"]
                    )
                ids = list(
                    targets.order_by("scheduled_time", "id").values_list("public_id", flat=True)
                )
                try:
                    outcomes = services.action_bulk_decide(
                        actions=scoped,
                        action_ids=ids,
                        actor=Actor.for_user(request.user),
                        decision=decision,
                        comment=form.cleaned_data["comment"],
                    )
                except ValidationFailed as exc:
                    detail = "; ".join(m for ms in exc.fields.values() for m in ms)
                    self.message_user(request, detail or exc.message, messages.ERROR)
                    return None
                self._report_bulk(request, outcomes, verb, done, form.cleaned_data["comment"])
                return None  # back to the queue
        else:
            form = BulkDecisionForm()
        count = queryset.count()
        background = count > BACKGROUND_THRESHOLD
        # Past the threshold the page previews the first ones; the decision runs
        # as a background job over every selected id (bulk_jobs).
        selected = list(
            queryset.select_related("identity").order_by("scheduled_time", "id")[
                :BACKGROUND_THRESHOLD
            ]
        )
        attach_reply_threads(selected)  # drafted replies' recipients and subjects, one query
        context = {
            **self.admin_site.each_context(request),
            "title": f"{verb.capitalize()} {count} action{'s' if count != 1 else ''}?",
            "opts": self.opts,
            "rows": [
                {"action": action, "summary": summary(action), "headline": headline_of(action)}
                for action in selected
            ],
            # Posted back: every selected id, or "select all" (its filters are in the URL).
            "selected_pks": [] if across else list(queryset.values_list("pk", flat=True)),
            "select_across": across,
            "background": background,
            "more": count - len(selected),
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

    def _bulk_decide_in_background(
        self, request: HttpRequest, targets: QuerySet, decision: str, comment: str
    ) -> HttpResponse:
        job = action_bulk_decide_start(
            user=request.user, actions=targets, decision=decision, comment=comment
        )
        self.message_user(
            request,
            f"{job.description}: running in the background; this page shows its progress.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:accounts_backgroundjob_change", args=[job.pk]))

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
