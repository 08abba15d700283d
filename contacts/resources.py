"""CSV import and export of contacts (django-import-export), used by the admin.

Export: one row per contact with the columns in `COLUMNS`; booleans are
`true`/`false`, `created` is ISO 8601 in UTC. Cells that a spreadsheet would
run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR, unless
they are plain numbers such as an E.164 phone) are prefixed with ``'``; an
import strips that prefix again, so an export imports back unchanged.

Import, into one workspace chosen by the person importing:

- Rows are keyed by `email`, case-insensitively: a known email updates that
  contact, an unknown one creates it. The `email` column is required.
- Every row goes through `contact_create` / `contact_update` (and
  `contact_suppress` for `do_not_contact`), so values are validated exactly as
  on the API and every change is an event in the contact's timeline.
- A blank cell leaves the contact's value alone (as in HubSpot); it never
  clears it. Unknown columns and `created` are ignored.
- An import may add suppression but never lift it: `do_not_contact` may be set
  to true, but a false on a contact marked do-not-contact is an error (clear it
  on the contact's page); `unsubscribed` and `bounced` are read-only, so a value
  that differs from the contact's is an error (the unsubscribe link and bounce
  handling set them). A value equal to the current one is accepted, so an
  export imports back as it is.
- All or nothing: the whole file runs in one transaction and any invalid row
  (reported with its row number, column and message) rolls every row back.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from import_export import fields, resources, widgets

from accounts.actors import Actor
from accounts.models import Workspace
from config.exceptions import Conflict, ValidationFailed
from contacts.models import Contact
from contacts.normalise import normalise_email
from contacts.properties import COLUMN_PROPERTIES, clean_properties
from contacts.services import contact_create, contact_suppress, contact_update, contacts_by_email

COLUMNS = [
    "email",
    "firstname",
    "lastname",
    "jobtitle",
    "company",
    "phone",
    "linkedin_url",
    "city",
    "state",
    "country",
    "industry",
    "lifecyclestage",
    "lead_status",
    "timezone",
    "do_not_contact",
    "unsubscribed",
    "bounced",
    "created",
]
# Columns written through the services' properties (do_not_contact apart).
PROPERTY_COLUMNS = [c for c in COLUMNS if c in COLUMN_PROPERTIES or c == "company"]
PROPERTY_COLUMNS.remove("do_not_contact")
READ_ONLY_FLAGS = ("unsubscribed", "bounced")
IMPORT_REASON = "csv import"

TRUE_WORDS = {"true", "1", "yes", "y"}
FALSE_WORDS = {"false", "0", "no", "n"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"^[+-]?\d[\d .]*$")


def escape_formula(value: Any) -> Any:
    """Defuse CSV injection: a cell a spreadsheet would evaluate gets a leading '."""
    starts_formula = isinstance(value, str) and value.startswith(FORMULA_START)
    if starts_formula and not PLAIN_NUMBER.match(value):
        return f"'{value}"
    return value


def cell(value: Any) -> str:
    """A CSV cell as text: stripped, with the export's formula escape undone."""
    if value is None:
        return ""
    text = str(value).strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        text = text[1:]
    return text


def parse_flag(text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("Must be true or false (or blank to leave it unchanged).")


class TrueFalseWidget(widgets.BooleanWidget):
    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        if kwargs.get("force_native_type"):
            return value
        if not isinstance(value, bool):
            return ""
        return "true" if value else "false"


class UtcIsoWidget(widgets.Widget):
    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return value.isoformat() if value else ""


def row_errors_of(exc: ValidationFailed) -> dict[str, list[str]]:
    """Service errors (`properties.phone`, `email`) keyed by the file's columns."""
    out: dict[str, list[str]] = {}
    for key, messages in exc.fields.items():
        column = key.removeprefix("properties.")
        out.setdefault(column if column in COLUMNS else "__all__", []).extend(messages)
    return out or {"__all__": [exc.message]}


class ContactResource(resources.ModelResource):
    """Contacts as CSV rows. Import needs `workspace` and `actor`; export needs
    neither (the admin passes an already scoped queryset)."""

    email = fields.Field(attribute="email", column_name="email")
    company = fields.Field(attribute="company__name", column_name="company")
    do_not_contact = fields.Field(
        attribute="do_not_contact", column_name="do_not_contact", widget=TrueFalseWidget()
    )
    unsubscribed = fields.Field(
        attribute="unsubscribed", column_name="unsubscribed", widget=TrueFalseWidget()
    )
    bounced = fields.Field(attribute="bounced", column_name="bounced", widget=TrueFalseWidget())
    created = fields.Field(
        attribute="created_at", column_name="created", widget=UtcIsoWidget(), readonly=True
    )

    class Meta:
        model = Contact
        name = "Contacts"
        fields = COLUMNS
        export_order = COLUMNS
        import_id_fields = ["email"]
        use_transactions = True
        clean_model_instances = False

    def __init__(
        self, workspace: Workspace | None = None, actor: Actor | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.actor = actor

    # --- Export -----------------------------------------------------------------
    def export_field(self, field: fields.Field, instance: Contact, **kwargs: Any) -> Any:
        return escape_formula(super().export_field(field, instance, **kwargs))

    # --- Import -----------------------------------------------------------------
    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs):
        # All or nothing, whoever calls: one transaction for the file, rolled back
        # on any error *or* invalid row (django-import-export only rolls back on
        # validation errors when asked to).
        kwargs["use_transactions"] = True
        kwargs["rollback_on_validation_errors"] = True
        return super().import_data(dataset, dry_run=dry_run, raise_errors=raise_errors, **kwargs)

    def before_import(self, dataset, **kwargs: Any) -> None:
        if self.workspace is None or self.actor is None:
            raise ValueError("Choose the workspace to import into.")

    def after_import(self, dataset, result, **kwargs: Any) -> None:
        # ModelResource resets the table's id sequence after creating rows, which
        # races with concurrent inserts on PostgreSQL; ids are never imported here.
        pass

    def get_instance(self, instance_loader, row: dict) -> Contact | None:
        email = cell(row.get("email"))
        if not email:
            return None
        return contacts_by_email(self.workspace, [email]).select_related("company").first()

    def init_instance(self, row: dict | None = None) -> Contact:
        return Contact(workspace=self.workspace)

    def import_instance(self, instance: Contact, row: dict, **kwargs: Any) -> None:
        """Validate the row (all its errors at once) and keep what to send to the
        services on the instance; `save_instance` sends it."""
        errors: dict[str, list[str]] = {}
        email = cell(row.get("email"))
        if instance.pk is None:
            try:
                email = normalise_email(email) if email else ""
            except ValidationFailed as exc:
                errors["email"] = [exc.message]
            if not email and "email" not in errors:
                errors["email"] = ["This field is required."]

        properties = {c: cell(row[c]) for c in PROPERTY_COLUMNS if c in row and cell(row[c])}
        _, _, property_errors = clean_properties(properties)
        for key, messages in property_errors.items():
            errors[key.removeprefix("properties.")] = messages

        suppress = False
        raw = cell(row.get("do_not_contact"))
        if raw:
            try:
                wanted = parse_flag(raw)
            except ValueError as exc:
                errors["do_not_contact"] = [str(exc)]
            else:
                if instance.do_not_contact and not wanted:
                    errors["do_not_contact"] = [
                        "This contact is marked do not contact; an import cannot clear it "
                        "(clear it on the contact's page, or leave the cell blank)."
                    ]
                suppress = wanted and not instance.do_not_contact
        for flag in READ_ONLY_FLAGS:
            raw = cell(row.get(flag))
            if not raw:
                continue
            try:
                wanted = parse_flag(raw)
            except ValueError as exc:
                errors[flag] = [str(exc)]
                continue
            if wanted != getattr(instance, flag):
                errors[flag] = [
                    f"Read-only: {flag} is set by the unsubscribe link and bounce handling, "
                    f"not by an import (the contact's value is "
                    f"{str(getattr(instance, flag)).lower()}; leave the cell blank)."
                ]
        if errors:
            raise ValidationError(errors)
        instance._import_plan = (email, properties, suppress)

    def save_instance(self, instance: Contact, is_create: bool, row: dict, **kwargs: Any) -> None:
        email, properties, suppress = instance._import_plan
        try:
            with transaction.atomic():
                if is_create:
                    contact = contact_create(
                        workspace=self.workspace,
                        actor=self.actor,
                        email=email,
                        properties=properties,
                    )
                else:
                    contact = contact_update(
                        contact=instance, actor=self.actor, properties=properties
                    )
                if suppress:
                    contact_suppress(
                        contact=contact,
                        flag="do_not_contact",
                        reason=IMPORT_REASON,
                        actor=self.actor,
                    )
        except ValidationFailed as exc:
            raise ValidationError(row_errors_of(exc)) from None
        except Conflict as exc:
            raise ValidationError({"email": [exc.message]}) from None
        # Show the saved contact in the preview and the admin log.
        instance.pk = contact.pk
        instance.refresh_from_db()
        instance._state.adding = False

    def save_m2m(self, instance: Contact, row: dict, **kwargs: Any) -> None:
        pass
