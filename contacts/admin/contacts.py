"""Contacts: list, detail with notes/events/conversations, actions, CSV import/export."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator, smart_split, unescape_string_literal
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV

from accounts.actors import Actor
from accounts.admin.common import (
    ReadOnlyInline,
    WorkspaceScopedAdmin,
    dry_run,
    visible_workspaces,
)
from accounts.models import Workspace
from config.exceptions import Conflict, DomainError, ValidationFailed
from contacts import services
from contacts.imports import MAX_IMPORT_BYTES, contact_import_start
from contacts.models import Contact, ContactEvent, Conversation, Note
from contacts.properties import WELL_KNOWN
from contacts.resources import ContactResource

ADMIN_REASON = "admin"
EVENTS_SHOWN = 50
CONVERSATIONS_SHOWN = 50
# Form fields that are contact properties of the same name (contacts.properties).
PROPERTY_FIELDS = [
    "firstname",
    "lastname",
    "jobtitle",
    "phone",
    "linkedin_url",
    "city",
    "state",
    "country",
    "industry",
    "lifecyclestage",
    "lead_status",
    "timezone",
]
SUPPRESSION_LABELS = {
    "do_not_contact": "do not contact",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
}


# --- The contact form: validated and saved by the services ------------------------
class ContactForm(forms.ModelForm):
    """Maps the form onto `contact_create` / `contact_update` properties.

    `clean()` runs the very service calls `save_through_services()` will make,
    inside a savepoint that is rolled back, so the service's own errors (an
    invalid phone, a duplicate email) appear on the form's fields and nothing is
    written until the whole page (inlines included) is valid. Model validation
    is skipped: the services are the validator, as on the API.
    """

    company_name = forms.CharField(
        label="Company",
        max_length=255,
        required=False,
        help_text="Matched by name (case-insensitively) in the contact's workspace, or created.",
    )
    # Set per request by ContactAdmin.get_form (who the validation pass runs as).
    actor: Actor | None = None

    class Meta:
        model = Contact
        fields = ["workspace", "email", *PROPERTY_FIELDS, "do_not_contact", "properties"]
        labels = {"lifecyclestage": "Lifecycle stage", "jobtitle": "Job title"}
        help_texts = {
            "phone": "E.164, e.g. +14155551234.",
            "linkedin_url": "e.g. https://www.linkedin.com/in/jane-doe",
            "timezone": "IANA name, e.g. Europe/Amsterdam.",
            "do_not_contact": "Every send to this contact fails while set.",
            "properties": "Custom properties as a JSON object. A key removed here is "
            "removed from the contact.",
        }
        widgets = {"properties": forms.Textarea(attrs={"rows": 6, "cols": 80})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "company_name" in self.fields and self.instance.company_id:
            self.fields["company_name"].initial = self.instance.company.name

    def _post_clean(self) -> None:
        pass  # no model validation: clean() asks the services instead

    def clean_properties(self) -> dict:
        value = self.cleaned_data.get("properties")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object of custom properties.")
        clash = sorted(name for name in value if name in WELL_KNOWN)
        if clash:
            raise forms.ValidationError(
                f"{', '.join(clash)}: well-known properties are set with the fields above."
            )
        return value

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data  # fix the basics first: the services need every field
        refused = dry_run(lambda: self.save_through_services(self.actor or Actor.system("admin")))
        if isinstance(refused, ValidationFailed):
            self._add_service_errors(refused)
        elif isinstance(refused, Conflict):
            duplicate = refused.code == "duplicate_contact" and "email" in self.fields
            self.add_error("email" if duplicate else None, refused.message)
        elif refused is not None:
            raise refused
        return data

    def _add_service_errors(self, exc: ValidationFailed) -> None:
        for key, errors in exc.fields.items():
            name = key.removeprefix("properties.")
            if name == "company":
                name = "company_name"
            if name not in self.fields:
                custom = key.startswith("properties.") and "properties" in self.fields
                name, errors = ("properties" if custom else None), [f"{key}: {e}" for e in errors]
            for error in errors:
                self.add_error(name, error)
        if not exc.fields:
            self.add_error(None, exc.message)

    def _custom_changes(self) -> dict[str, Any]:
        if "properties" not in self.fields:
            return {}
        old = (self.instance.properties or {}) if self.instance.pk else {}
        new = self.cleaned_data.get("properties") or {}
        changes: dict[str, Any] = {name: None for name in old if name not in new}
        changes.update({name: value for name, value in new.items() if old.get(name) != value})
        return changes

    def save_through_services(self, actor: Actor) -> Contact:
        """Create or update the contact. Raises the services' DomainErrors."""
        data = self.cleaned_data
        with transaction.atomic():
            if self.instance.pk is None:
                properties = {n: data[n] for n in PROPERTY_FIELDS if data.get(n)}
                if data.get("company_name"):
                    properties["company"] = data["company_name"]
                custom = self._custom_changes()
                properties.update({k: v for k, v in custom.items() if v is not None})
                contact = services.contact_create(
                    workspace=data["workspace"],
                    actor=actor,
                    email=data["email"],
                    properties=properties,
                )
                if data.get("do_not_contact"):
                    services.contact_suppress(
                        contact=contact, flag="do_not_contact", reason=ADMIN_REASON, actor=actor
                    )
                return contact

            properties = {n: data[n] for n in self.changed_data if n in PROPERTY_FIELDS}
            if "email" in self.changed_data:
                properties["email"] = data["email"]
            if "company_name" in self.changed_data:
                properties["company"] = data["company_name"]
            properties.update(self._custom_changes())
            contact = self.instance
            if properties:
                contact = services.contact_update(
                    contact=contact, actor=actor, properties=properties
                )
            if "do_not_contact" in self.changed_data:
                services.contact_suppress(
                    contact=contact,
                    flag="do_not_contact",
                    reason=ADMIN_REASON,
                    actor=actor,
                    value=bool(data["do_not_contact"]),
                )
            return contact


# --- Inlines ---------------------------------------------------------------------------
class LatestOnlyFormSet(BaseInlineFormSet):
    """Shows only the first `limit` rows of the inline's (ordered) queryset."""

    limit = EVENTS_SHOWN

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[: self.limit]
        return self._latest


class NoteInline(admin.StackedInline):
    """Notes are added, edited and deleted through the note services (events)."""

    model = Note
    extra = 0
    fields = ["content", "author_label", "created_at", "updated_at"]
    readonly_fields = ["author_label", "created_at", "updated_at"]
    verbose_name_plural = "notes"


class EventInline(ReadOnlyInline):
    model = ContactEvent
    fk_name = "contact"
    formset = type("LatestEventsFormSet", (LatestOnlyFormSet,), {"limit": EVENTS_SHOWN})
    fields = ["occurred_at", "type", "details", "actor_label"]
    verbose_name = "event"
    verbose_name_plural = f"timeline (latest {EVENTS_SHOWN} events, newest first)"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).order_by("-occurred_at", "-id")

    @admin.display(description="Details")
    def details(self, obj: ContactEvent) -> str:
        text = json.dumps(obj.data, ensure_ascii=False, sort_keys=True, default=str)
        return Truncator(text).chars(300) if obj.data else "—"


class ConversationInline(ReadOnlyInline):
    model = Conversation
    fk_name = "contact"
    formset = type(
        "LatestConversationsFormSet", (LatestOnlyFormSet,), {"limit": CONVERSATIONS_SHOWN}
    )
    fields = ["channel", "subject", "status", "message_count", "last_message_at", "public_id"]
    verbose_name_plural = f"conversations (latest {CONVERSATIONS_SHOWN})"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(message_total=Count("messages"))
            .order_by("-last_message_at", "-id")
        )

    @admin.display(description="Messages")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_total


# --- List filters -------------------------------------------------------------------
class SuppressionFilter(admin.SimpleListFilter):
    title = "suppression"
    parameter_name = "suppression"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [
            ("any", "Suppressed (any)"),
            ("do_not_contact", "Do not contact"),
            ("unsubscribed", "Unsubscribed"),
            ("bounced", "Bounced"),
            ("none", "Not suppressed"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        any_flag = Q(do_not_contact=True) | Q(unsubscribed=True) | Q(bounced=True)
        value = self.value()
        if value == "any":
            return queryset.filter(any_flag)
        if value == "none":
            return queryset.exclude(any_flag)
        if value in SUPPRESSION_LABELS:
            return queryset.filter(**{value: True})
        return queryset


# --- CSV import: upload, then a background job ---------------------------------------
class ContactImportForm(forms.Form):
    workspace = forms.ModelChoiceField(
        queryset=Workspace.objects.none(),
        help_text="Rows are matched by email within this workspace; new contacts are "
        "created in it.",
    )
    import_file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8, comma-separated, a header line naming the columns; at most "
        f"{MAX_IMPORT_BYTES // (1024 * 1024)} MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


# --- The contact admin ----------------------------------------------------------------
@admin.register(Contact)
class ContactAdmin(ExportMixin, WorkspaceScopedAdmin):
    form = ContactForm
    change_list_template = "admin/contacts/contact/change_list.html"
    list_display = [
        "name",
        "email",
        "company_link",
        "lifecyclestage",
        "suppression",
        "workspace",
        "created_at",
    ]
    list_display_links = ["name", "email"]
    list_filter = [
        "lifecyclestage",
        "lead_status",
        "enrichment_status",
        SuppressionFilter,
        "country",
        ("company", admin.RelatedOnlyFieldListFilter),
        ("workspace", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["search_text"]  # see get_search_results
    search_help_text = "Search by name, email, job title or company (every word must match)."
    list_select_related = ["company", "workspace"]
    list_per_page = 50
    date_hierarchy = "created_at"
    actions = ["mark_do_not_contact", "unsubscribe"]
    inlines = [NoteInline, EventInline, ConversationInline]
    fieldsets = [
        ("Identity", {"fields": ["workspace", "public_id", "email", "firstname", "lastname"]}),
        ("Work", {"fields": ["jobtitle", "company_name", "industry", "phone", "linkedin_url"]}),
        ("Location", {"fields": ["city", "state", "country", "timezone"]}),
        ("Lifecycle", {"fields": ["lifecyclestage", "lead_status", "enrichment_status"]}),
        (
            "Suppression",
            {
                "description": "Unsubscribed and bounced are set by the unsubscribe link and "
                "bounce handling; “Unsubscribe” in the list's actions unsubscribes by hand.",
                "fields": [
                    ("do_not_contact", "do_not_contact_at", "do_not_contact_reason"),
                    ("unsubscribed", "unsubscribed_at", "unsubscribed_reason"),
                    ("bounced", "bounced_at", "bounced_reason"),
                ],
            },
        ),
        ("Custom properties", {"fields": ["properties"]}),
        ("Record", {"classes": ["collapse"], "fields": ["created_at", "updated_at"]}),
    ]
    readonly_fields = [
        "public_id",
        "enrichment_status",
        "do_not_contact_at",
        "do_not_contact_reason",
        "unsubscribed",
        "unsubscribed_at",
        "unsubscribed_reason",
        "bounced",
        "bounced_at",
        "bounced_reason",
        "created_at",
        "updated_at",
    ]

    # CSV export (contacts.resources); the import is a background job (contacts.imports)
    resource_classes = [ContactResource]
    export_formats = [CSV]

    # --- Columns --------------------------------------------------------------------
    @admin.display(description="Name", ordering="lastname")
    def name(self, obj: Contact) -> str:
        return f"{obj.firstname} {obj.lastname}".strip() or "—"

    @admin.display(description="Company", ordering="company__name")
    def company_link(self, obj: Contact) -> str:
        return obj.company.name if obj.company_id else ""

    @admin.display(description="Company")
    def company_name(self, obj: Contact) -> str:
        # Read-only rendering of the form's company_name field (view-only users).
        return obj.company.name if obj.company_id else ""

    @admin.display(description="Suppression")
    def suppression(self, obj: Contact) -> str:
        badges = []
        for flag, label in SUPPRESSION_LABELS.items():
            if getattr(obj, flag):
                at = getattr(obj, f"{flag}_at")
                why = getattr(obj, f"{flag}_reason")
                title = label
                if at:
                    title += f" since {timezone.localtime(at):%Y-%m-%d %H:%M}"
                if why:
                    title += f" ({why})"
                badges.append((flag.replace("_", "-"), title, label))
        if not badges:
            return format_html('<span class="contactable" title="{}">✓</span>', "Not suppressed")
        return format_html_join(
            " ", '<span class="suppression-badge {}" title="{}">{}</span>', badges
        )

    # --- Querysets, search, forms ---------------------------------------------------------
    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Every word must appear in `search_text` (first, last, email, job title,
        company), the column the API's search and a trigram index use; an exact
        public id matches too."""
        for word in smart_split(search_term):
            if word[:1] in {'"', "'"} and word[-1:] == word[:1]:
                word = unescape_string_literal(word)
            word = word.strip().lower()
            if word:
                queryset = queryset.filter(Q(search_text__contains=word) | Q(public_id=word))
        return queryset, False

    def get_fieldsets(self, request: HttpRequest, obj: Contact | None = None) -> list:
        if obj is not None:
            return self.fieldsets
        # On add, show only what can be entered.
        hidden = {"public_id", "created_at", "updated_at", "enrichment_status"}
        fieldsets = []
        for title, options in self.fieldsets:
            if title == "Suppression":
                fields = ["do_not_contact"]
            else:
                fields = [f for f in options["fields"] if f not in hidden]
            if fields:
                fieldsets.append((title, {**options, "fields": fields}))
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, "workspace"]

    def get_form(self, request: HttpRequest, obj: Contact | None = None, **kwargs: Any):
        form = super().get_form(request, obj, **kwargs)
        form.actor = Actor.for_user(request.user)
        return form

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: Any):
        if db_field.name == "workspace":
            kwargs["queryset"] = visible_workspaces(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Contact | None) -> list:
        return self.inlines if obj is not None else [NoteInline]

    # --- Writes, all through the services -------------------------------------------------
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except DomainError as exc:
            # The form's validation pass succeeded but the save did not (someone
            # else changed the contact in between): the transaction is rolled back.
            self.message_user(request, f"Nothing was saved: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request: HttpRequest, obj: Contact, form: ContactForm, change: bool):
        contact = form.save_through_services(Actor.for_user(request.user))
        # The admin goes on with `obj` (inlines, log, redirect): make it the saved row.
        obj.pk = contact.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Note:
            # Events and conversations are read-only here: nothing to save.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        actor = Actor.for_user(request.user)
        formset.save(commit=False)
        for note in formset.deleted_objects:
            services.note_delete(note=note, actor=actor)
        for note, _changed in formset.changed_objects:
            services.note_update(note=note, actor=actor, content=note.content)
        for note in formset.new_objects:
            created = services.note_create(
                contact=formset.instance, actor=actor, content=note.content
            )
            note.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        services.contact_delete(contact=obj, actor=Actor.for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        actor = Actor.for_user(request.user)
        with transaction.atomic():
            for contact in queryset:
                services.contact_delete(contact=contact, actor=actor)

    # --- Actions -----------------------------------------------------------------------------
    def _suppress(self, request: HttpRequest, queryset: QuerySet, flag: str, done: str) -> None:
        actor = Actor.for_user(request.user)
        changed = 0
        with transaction.atomic():
            for contact in queryset:
                changed += services.contact_suppress(
                    contact=contact, flag=flag, reason=ADMIN_REASON, actor=actor
                )
        unchanged = len(queryset) - changed
        message = f"{done} {changed} contact{'' if changed == 1 else 's'}."
        if unchanged:
            message += f" {unchanged} already were."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Mark selected contacts do not contact", permissions=["change"])
    def mark_do_not_contact(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        self._suppress(request, queryset, "do_not_contact", "Marked do not contact:")

    @admin.action(description="Unsubscribe selected contacts", permissions=["change"])
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        self._suppress(request, queryset, "unsubscribed", "Unsubscribed")

    # --- CSV import / export -------------------------------------------------------------------
    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="{}_{}_import".format(*info),
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            "has_import_permission": self.has_import_permission(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV into a visible workspace; the file is checked (UTF-8, an
        email column) and queued as a background job, and the browser goes to
        the job's progress page."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        workspaces = visible_workspaces(request)
        form = ContactImportForm(request.POST or None, request.FILES or None)
        form.fields["workspace"].queryset = workspaces
        if not form.is_bound and len(workspaces) == 1:
            form.fields["workspace"].initial = workspaces[0].pk
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            try:
                with transaction.atomic():
                    job = contact_import_start(
                        workspace=form.cleaned_data["workspace"],
                        user=request.user,
                        file_name=upload.name,
                        data=upload.read(MAX_IMPORT_BYTES + 1),
                    )
            except ValidationFailed as exc:
                for message in exc.fields.get("import_file", [exc.message]):
                    form.add_error("import_file", message)
            else:
                self.message_user(
                    request,
                    f"Importing {job.total:,} rows into {job.workspace.name} in the background.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:accounts_backgroundjob_change", args=[job.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Import contacts",
            "subtitle": None,
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/contacts/contact/import.html", context)

    def get_export_filename(self, request: HttpRequest, queryset: QuerySet, file_format) -> str:
        return f"contacts-{timezone.now():%Y-%m-%d}.{file_format.get_extension()}"
