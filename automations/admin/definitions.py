"""Action definitions: the seed's field groups, shown by type; write-only secrets;
custom fields inline; a Test button for ApiCall definitions.

Which groups fit which actionType (`GROUPS` below). The page shows the groups
that fit the chosen type (automations/static/automations/action_definition_form.js
toggles them when the type changes; without JavaScript every group shows):

=================================  =============================================  ==================
group                              fields                                         types
=================================  =============================================  ==================
Core                               workspace, name, description, actionType,      all
                                   isActive
Outbound API call                  apiEndpoint, apiMethod, apiHeaders,            ApiCall
                                   fieldMapping, responseFieldMapping
Body template                      apiBodyTemplate                                ApiCall (request
                                                                                  body); Reply,
                                                                                  ReplySend, Send
                                                                                  (the reply's body)
Outbound authentication overrides  overrideApiBaseUrl, …AuthenticationType,       ApiCall
                                   …Username, …Password, …Token
Forward                            forwardRecipients, forwardPhoneNumber          Forward
Wait                               waitSeconds                                    Wait
Runtime controls                   conditionalRules, actionSchedule,              all
                                   actionScheduleTimeZoneId
Function tool                      isFunctionTool, functionParametersSchema,      all
                                   toolCallTimeoutSeconds
=================================  =============================================  ==================

Close, Delete, Spam and DetectTopics take no settings of their own. A group
that does not fit is only hidden: its values are kept and saved unchanged (so
switching the type back loses nothing) and still validated; a hidden group
holding an error is shown.

Saving: `action_definition_create` / `action_definition_update`, run once as a
rolled-back dry run during validation (their errors — JSON that does not parse,
a schema that is not a JSON Schema, what a type cannot run without, templates
that do not compile, lengths — show on the fields) and once for real. Those are
the only checks: the form accepts exactly what `/api/Actions` accepts (the same
service; choices bind case-insensitively and the body template keeps its
whitespace, as on the API). What a run would still fail on
(`services.definition_run_warnings`: a relative endpoint without a base URL,
Basic without a username, Bearer without a token, which the seed's own ApiCall
example has) is a warning after the save, never a refusal. A new definition's
schedule timezone defaults to the user's timezone in the workspace (the
workspace's, unless the member set their own), as on the API.

Preview (automations/admin/preview.py): a definition's page shows what its saved
body (and an ApiCall's request line) renders to for a sample contact, and its
"Preview" button posts the form as it stands to `<id>/preview/` (`add/preview/`)
in a new tab: the unsaved templates rendered the same way, with the unknown
variables a save would refuse. Nothing is sent or written.

Secrets (`override_api_password`, `override_api_token`): write-only password
inputs that never render a value; blank keeps the stored value, "clear" removes
it. They are not model fields of the form (no initial value is ever read into
it), a view-only page shows "stored"/"not set", the list never shows them, and
the history lists changed field names only.

API headers are secrets too (encrypted at rest, services.HEADER_MASK): the input
shows each header's name with its value masked and is not a model field of the
form either, so the stored values are never rendered; a header left masked keeps
its stored value, a value typed over the mask replaces it, a header removed from
the object is dropped. A view-only page shows the same masked object.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.forms.models import BaseInlineFormSet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from automations import services
from automations.admin import api_test, preview
from automations.admin.common import (
    ServiceAdmin,
    ServiceModelForm,
    save_service_form,
    single_workspace,
    time_zone_for,
)
from automations.models import (
    ActionDefinition,
    ActionDefinitionType,
    ApiAuthenticationType,
    CustomFieldDefinition,
)

T = ActionDefinitionType
SECRET_FIELDS = services.SECRET_FIELDS
SECRET_WHAT = {"override_api_password": "password", "override_api_token": "token"}
EDITABLE = [name for name in services.DEFINITION_FIELDS if name not in SECRET_FIELDS]
# The service's (seed) names -> form fields.
FIELD_NAMES = {seed: field for field, seed in services.DEFINITION_FIELDS.items()}
REPLY_TYPES = (T.REPLY, T.REPLY_SEND, T.SEND)
# What the Preview button renders from even when the form refuses it.
PREVIEWED_TEXT_FIELDS = ("api_endpoint", "api_body_template", "override_api_base_url")
ALL_TYPES = None

# (title, rows, types it fits (None: all), description)
GROUPS: list[tuple[str, list[Any], tuple[str, ...] | None, str]] = [
    ("Core", ["workspace", "name", "description", "action_type", "is_active"], ALL_TYPES, ""),
    (
        "Outbound API call",
        ["api_endpoint", "api_method", "api_headers", "field_mapping", "response_field_mapping"],
        (T.API_CALL,),
        "",
    ),
    (
        "Body template",
        ["api_body_template"],
        (T.API_CALL, *REPLY_TYPES),
        "ApiCall: the request body. Reply, ReplySend, Send: the reply's body. Rendered in the "
        "sandbox with the run's context, e.g. <code>{{ endUser.firstName }}</code>.",
    ),
    (
        "Outbound authentication overrides",
        [
            "override_api_base_url",
            "override_api_authentication_type",
            "override_api_username",
            ("override_api_password", "clear_override_api_password"),
            ("override_api_token", "clear_override_api_token"),
        ],
        (T.API_CALL,),
        "Credentials are encrypted at rest and never shown again.",
    ),
    ("Forward", ["forward_recipients", "forward_phone_number"], (T.FORWARD,), ""),
    ("Wait", ["wait_seconds"], (T.WAIT,), ""),
    (
        "Runtime controls",
        ["conditional_rules", "action_schedule", "action_schedule_time_zone_id"],
        ALL_TYPES,
        "",
    ),
    (
        "Function tool",
        ["is_function_tool", "function_parameters_schema", "tool_call_timeout_seconds"],
        ALL_TYPES,
        "",
    ),
]
# On a view-only page the secrets' rows show whether something is stored, nothing more.
VIEW_ONLY_ROWS: dict[Any, str] = {
    ("override_api_password", "clear_override_api_password"): "stored_password",
    ("override_api_token", "clear_override_api_token"): "stored_token",
    "api_headers": "masked_api_headers",
}


def _json_input(rows: int) -> forms.Textarea:
    return forms.Textarea(
        attrs={
            "rows": rows,
            "cols": 80,
            "class": "vLargeTextField json-input",
            "spellcheck": "false",
        }
    )


class CanonicalChoiceField(forms.TypedChoiceField):
    """A choice matched case-insensitively and kept in its canonical spelling, as
    the API's LooseChoiceField binds it: a value one accepts, the other does too."""

    def to_python(self, value: Any) -> str:
        value = super().to_python(value)
        if not isinstance(value, str) or not value.strip():
            return value
        canonical = {str(key).lower(): str(key) for key, _ in self.choices if key != ""}
        return canonical.get(value.strip().lower(), value)


def _choices(values: list[str], blank: str = "---------") -> list[tuple[str, str]]:
    return [("", blank), *((value, value) for value in values)]


# --- The form ------------------------------------------------------------------------------
class ActionDefinitionForm(ServiceModelForm):
    service_names = FIELD_NAMES

    action_type = CanonicalChoiceField(label="Type", choices=_choices(T.values))
    api_method = CanonicalChoiceField(
        label="API method",
        required=False,
        choices=_choices(list(services.API_METHODS), "GET (default)"),
    )
    override_api_authentication_type = CanonicalChoiceField(
        label="Authentication", required=False, choices=_choices(ApiAuthenticationType.values)
    )
    override_api_password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_override_api_password = forms.BooleanField(
        label="Clear the stored password", required=False
    )
    override_api_token = forms.CharField(
        label="Token",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_override_api_token = forms.BooleanField(label="Clear the stored token", required=False)
    # Not a model field of the form (Meta.exclude): its initial value is the masked
    # object, never the stored one.
    api_headers = forms.CharField(
        label="API headers",
        required=False,
        widget=_json_input(3),
        help_text='JSON object, e.g. {"X-Api-Key": "…", "X-Ticket": "{{ ticket.id }}"}. '
        f"Values are secrets: stored encrypted and shown as {services.HEADER_MASK}; leave "
        f"{services.HEADER_MASK} to keep a header's stored value.",
    )

    # Set per request by ActionDefinitionAdmin.get_form (whose timezone is the default).
    user: Any = None

    class Meta:
        model = ActionDefinition
        fields = ["workspace", *EDITABLE]
        # Never read into the form: see the module docstring.
        exclude = [*SECRET_FIELDS, "api_headers"]
        labels = {
            "action_type": "Type",
            "api_endpoint": "API endpoint",
            "api_body_template": "Body template",
            "override_api_base_url": "Base URL",
            "override_api_username": "Username",
            "override_api_authentication_type": "Authentication",
            "action_schedule": "Schedule",
            "action_schedule_time_zone_id": "Schedule timezone",
            "function_parameters_schema": "Parameters schema",
            "tool_call_timeout_seconds": "Timeout (seconds)",
        }
        help_texts = {
            "api_endpoint": "An absolute http(s) URL, or a path joined to the base URL. "
            "Placeholders are URL-encoded: <code>/customers/{{ endUser.customerNumber }}</code>.",
            "field_mapping": 'JSON object {"bodyField": "context.path"}, e.g. '
            '{"customer.email": "endUser.email"} (query parameters for GET).',
            "response_field_mapping": 'JSON object {"context.path": "response.path"}, e.g. '
            '{"endUser.crmId": "data.id"}.',
            "conditional_rules": 'JSON Logic over the run\'s context, e.g. {"==": [{"var": '
            '"topic.name"}, "Billing"]}. Blank: always runs.',
            "forward_recipients": "Email addresses, comma-separated.",
            "forward_phone_number": "E.164, e.g. +14155551234.",
            "wait_seconds": "Later steps of the run wait this long.",
            "action_schedule": "When it may run, e.g. <code>Mon-Fri 09:00-17:00; Sat "
            "10:00-14:00</code>. Blank: any time.",
            "action_schedule_time_zone_id": "IANA name, e.g. Europe/Amsterdam. Blank: your "
            "timezone in the workspace.",
            "function_parameters_schema": "JSON Schema of the tool's arguments.",
            "tool_call_timeout_seconds": "1 to 300; also the ApiCall request timeout.",
        }
        widgets = {
            "description": forms.TextInput(attrs={"size": 80}),
            "api_endpoint": forms.TextInput(attrs={"size": 80}),
            "api_body_template": _json_input(8),
            "field_mapping": _json_input(3),
            "response_field_mapping": _json_input(3),
            "override_api_base_url": forms.TextInput(attrs={"size": 80}),
            "conditional_rules": _json_input(3),
            "forward_recipients": forms.TextInput(attrs={"size": 80}),
            "action_schedule": forms.TextInput(attrs={"size": 60}),
            "function_parameters_schema": _json_input(6),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "api_headers" not in self.initial:
            self.initial["api_headers"] = services.masked_headers(self.instance.api_headers)
        for secret, what in SECRET_WHAT.items():
            self.initial.pop(secret, None)
            if secret not in self.fields:
                continue
            stored = bool(self.instance.pk and getattr(self.instance, secret))
            state = f"A {what} is stored." if stored else f"No {what} is stored."
            self.fields[secret].help_text = f"{state} Leave blank to keep the stored value."
        if "api_body_template" in self.fields:
            self.fields["api_body_template"].strip = False  # as the API keeps it
        method = self.fields.get("api_method")
        current = self.instance.api_method if self.instance.pk else ""
        if method is not None and current and current not in services.API_METHODS:
            method.choices = [*method.choices, (current, current)]

    # -- values for the services -------------------------------------------------------------
    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        names = EDITABLE if self.instance.pk is None else self.changed_data
        values = {n: data[n] for n in names if n in EDITABLE and n in self.fields and n in data}
        for secret in SECRET_FIELDS:
            if secret not in self.fields or secret in self.errors:
                continue
            if data.get(f"clear_{secret}"):
                values[secret] = ""  # the service's "clear"
            elif data.get(secret):
                values[secret] = data[secret]
            # else: left out, which keeps the stored value
        return values

    def default_time_zone(self) -> str:
        workspace = self.target_workspace()
        return time_zone_for(self.user, workspace) if self.user else workspace.timezone

    def save_through_services(self, *, dry: bool = False) -> ActionDefinition:
        if self.instance.pk is None:
            return services.action_definition_create(
                workspace=self.target_workspace(),
                values=self.service_values(),
                default_time_zone=self.default_time_zone(),
            )
        return services.action_definition_update(
            definition=self.working_copy(dry),
            changes=self.service_values(),
            default_time_zone=self.default_time_zone(),
        )

    # -- validation ------------------------------------------------------------------------------
    def clean(self) -> dict[str, Any]:
        data = self.cleaned_data
        for secret, what in SECRET_WHAT.items():
            if data.get(secret) and data.get(f"clear_{secret}"):
                self.add_error(secret, f"Enter a new {what} or clear the stored one, not both.")
        return super().clean()  # the services' checks: the same as the API's


# --- Custom fields -----------------------------------------------------------------------------
class CustomFieldFormSet(BaseInlineFormSet):
    def save_new(self, form: forms.ModelForm, commit: bool = True) -> CustomFieldDefinition:
        # No service owns custom fields (the API only reads them): the row takes
        # its definition's workspace.
        form.instance.workspace_id = self.instance.workspace_id
        return super().save_new(form, commit=commit)


class CustomFieldDefinitionInline(admin.TabularInline):
    model = CustomFieldDefinition
    formset = CustomFieldFormSet
    fields = ["name", "label", "field_type", "is_required"]
    extra = 0
    verbose_name_plural = "custom fields"


# --- The admin ------------------------------------------------------------------------------
@admin.register(ActionDefinition)
class ActionDefinitionAdmin(ServiceAdmin):
    form = ActionDefinitionForm
    list_display = ["name", "action_type", "is_active", "updated_at", "workspace"]
    list_display_links = ["name"]
    list_filter = ["action_type", "is_active", ("workspace", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "description"]
    search_help_text = "Search by name or description."
    list_select_related = ["workspace"]
    list_per_page = 50
    ordering = ["name", "id"]
    inlines = [CustomFieldDefinitionInline]

    class Media:
        js = ["automations/action_definition_form.js"]
        css = {"all": ["automations/admin.css"]}

    def get_list_display(self, request: HttpRequest) -> list[str]:
        columns = list(super().get_list_display(request))
        if single_workspace(request) is not None:
            columns.remove("workspace")  # one workspace: the column says nothing
        return columns

    def get_fieldsets(self, request: HttpRequest, obj: ActionDefinition | None = None) -> list:
        view_only = obj is not None and not self.has_change_permission(request, obj)
        fieldsets = []
        for title, rows, types, description in GROUPS:
            if view_only:  # the secrets' inputs become "stored" / "not set"
                rows = [VIEW_ONLY_ROWS.get(row, row) for row in rows]
            classes = [] if types is None else ["type-specific", *(f"for-{t}" for t in types)]
            options: dict[str, Any] = {"fields": rows, "classes": classes}
            if description:
                options["description"] = description
            fieldsets.append((title, options))
        if obj is not None:
            fieldsets.append(("Record", {"fields": ["created_at", "updated_at"]}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: ActionDefinition | None = None):
        fixed = ["created_at", "updated_at"]
        return fixed if obj is None else [*fixed, "workspace"]  # a definition stays put

    @admin.display(description="Password")
    def stored_password(self, obj: ActionDefinition) -> str:
        return "stored (hidden)" if obj.override_api_password else "not set"

    @admin.display(description="Token")
    def stored_token(self, obj: ActionDefinition) -> str:
        return "stored (hidden)" if obj.override_api_token else "not set"

    @admin.display(description="API headers")
    def masked_api_headers(self, obj: ActionDefinition) -> str:
        return services.masked_headers(obj.api_headers) or "not set"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        return form

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        only = single_workspace(request)
        if only is not None:
            initial.setdefault("action_schedule_time_zone_id", time_zone_for(request.user, only))
        return initial

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict,
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ActionDefinition | None = None,
    ) -> HttpResponse:
        context["action_type_value"] = obj.action_type if obj is not None else ""
        if obj is not None:
            context["template_preview"] = preview.preview_definition(obj)
        if add or (obj is not None and self.has_change_permission(request, obj)):
            info = self.opts.app_label, self.opts.model_name
            context["preview_url"] = (
                reverse("admin:{}_{}_preview_add".format(*info))
                if obj is None
                else reverse("admin:{}_{}_preview".format(*info), args=[obj.pk])
            )
        if (
            obj is not None
            and obj.action_type == T.API_CALL
            and self.has_change_permission(request, obj)
        ):
            context["test_url"] = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_test", args=[obj.pk]
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- writes, through the services -------------------------------------------------------------
    def save_model(self, request: HttpRequest, obj: ActionDefinition, form, change: bool) -> None:
        save_service_form(form, obj)
        # Accepted, as on the API; what a run would still fail on is said, not refused.
        for name, found in services.definition_run_warnings(obj).items():
            field = form.fields.get(FIELD_NAMES.get(name, ""))
            label = field.label if field is not None and field.label else name
            text = " ".join(found)
            self.message_user(
                request, f"Saved, but not runnable yet: {label}: {text}", messages.WARNING
            )

    def delete_model(self, request: HttpRequest, obj: ActionDefinition) -> None:
        services.action_definition_delete(definition=obj)

    # -- the Test button ------------------------------------------------------------------
    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name="{}_{}_test".format(*info),
            ),
            path(
                "add/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="{}_{}_preview_add".format(*info),
            ),
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="{}_{}_preview".format(*info),
            ),
            *super().get_urls(),
        ]

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the sample context form. POST (CSRF-checked by admin_view): send the
        request and show it with the answer. Needs change permission on the definition."""
        definition = self.get_object(request, unquote(object_id))
        if definition is None:
            raise Http404
        if not self.has_change_permission(request, definition):
            raise PermissionDenied
        change_url = reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[definition.pk]
        )
        if definition.action_type != T.API_CALL:
            self.message_user(
                request, "Only ApiCall definitions have a Test button.", messages.WARNING
            )
            return HttpResponseRedirect(change_url)
        form = api_test.ApiCallTestForm(request.POST if request.method == "POST" else None)
        outcome = None
        if form.is_bound and form.is_valid():
            outcome = api_test.run_test(definition, form.cleaned_data["context"])
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test {definition.name}",
            "subtitle": None,
            "opts": self.opts,
            "original": definition,
            "change_url": change_url,
            "form": form,
            "outcome": outcome,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, "admin/automations/actiondefinition/test_api_call.html", context
        )

    # -- the Preview button ---------------------------------------------------------------
    def preview_view(self, request: HttpRequest, object_id: str | None = None) -> HttpResponse:
        """POST (the change or add form, CSRF-checked by admin_view): its templates,
        unsaved, rendered for a sample contact (automations/admin/preview.py). Nothing
        is written: the form's own validation is a rolled-back dry run. Needs the
        change (add) permission."""
        definition = None
        if object_id is not None:
            definition = self.get_object(request, unquote(object_id))
            if definition is None:
                raise Http404
            if not self.has_change_permission(request, definition):
                raise PermissionDenied
            change_url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[definition.pk]
            )
        else:
            if not self.has_add_permission(request):
                raise PermissionDenied
            change_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_add")
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        form_class = self.get_form(request, definition, change=definition is not None)
        instance = copy.copy(definition) if definition is not None else ActionDefinition()
        form = form_class(request.POST, request.FILES, instance=instance)
        form.is_valid()  # builds the instance from the fields that are valid
        posted = form.instance
        # A template the save would refuse is previewed all the same, as typed.
        for field in PREVIEWED_TEXT_FIELDS:
            if field in form.errors and field in form.fields:
                setattr(posted, field, form[field].value() or "")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview {posted.name or 'a new definition'}",
            "subtitle": None,
            "opts": self.opts,
            "original": posted,
            "change_url": change_url,
            "preview": preview.preview_definition(posted) if posted.workspace_id else None,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/automations/actiondefinition/preview.html", context)
