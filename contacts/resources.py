"""CSV export of contacts (django-import-export) and the row rules of the CSV import.

Export: one row per contact with the columns in `COLUMNS`; booleans are
`true`/`false`, `created` is ISO 8601 in UTC. Cells that a spreadsheet would
run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR, unless
they are plain numbers such as an E.164 phone) are prefixed with ``'``; an
import strips that prefix again, so an export imports back unchanged.

Import (a background job, `contacts.imports`), into one workspace chosen by
the person importing; each row on its own (`row_plan`, then `row_write`):

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
- Row by row, as HubSpot's import: a valid row is written, an invalid one is
  skipped and reported (row number, column, message) in the job's errors CSV.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from import_export import fields, resources, widgets

from accounts.actors import Actor
from accounts.models import Workspace
from config.exceptions import Conflict, ValidationFailed
from contacts.models import Contact
from contacts.normalise import normalise_email
from contacts.properties import COLUMN_PROPERTIES, clean_properties
from contacts.services import contact_create, contact_suppress, contact_update

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
    """Contacts as CSV rows, for export (the admin passes an already scoped queryset)."""

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

    # --- Export -----------------------------------------------------------------
    def export_field(self, field: fields.Field, instance: Contact, **kwargs: Any) -> Any:
        return escape_formula(super().export_field(field, instance, **kwargs))


# --- Import: one row's rules ---------------------------------------------------------
class RowInvalid(Exception):
    """A row that cannot be imported: messages by column ("__all__" for the row)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(frozen=True)
class RowPlan:
    email: str
    properties: dict[str, str]
    suppress: bool


def row_plan(row: Mapping[str, Any], contact: Contact | None) -> RowPlan:
    """Validate a row (all its errors at once) against the contact its email
    names (None: a new one); what `row_write` will send to the services."""
    errors: dict[str, list[str]] = {}
    email = cell(row.get("email"))
    if contact is None:
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

    do_not_contact = contact.do_not_contact if contact is not None else False
    suppress = False
    raw = cell(row.get("do_not_contact"))
    if raw:
        try:
            wanted = parse_flag(raw)
        except ValueError as exc:
            errors["do_not_contact"] = [str(exc)]
        else:
            if do_not_contact and not wanted:
                errors["do_not_contact"] = [
                    "This contact is marked do not contact; an import cannot clear it "
                    "(clear it on the contact's page, or leave the cell blank)."
                ]
            suppress = wanted and not do_not_contact
    for flag in READ_ONLY_FLAGS:
        raw = cell(row.get(flag))
        if not raw:
            continue
        try:
            wanted = parse_flag(raw)
        except ValueError as exc:
            errors[flag] = [str(exc)]
            continue
        current = getattr(contact, flag) if contact is not None else False
        if wanted != current:
            errors[flag] = [
                f"Read-only: {flag} is set by the unsubscribe link and bounce handling, "
                f"not by an import (the contact's value is {str(current).lower()}; "
                f"leave the cell blank)."
            ]
    if errors:
        raise RowInvalid(errors)
    return RowPlan(email, properties, suppress)


def row_write(
    *, plan: RowPlan, contact: Contact | None, workspace: Workspace, actor: Actor
) -> Contact:
    """Write a planned row through the services, in a savepoint: a row the
    services refuse changes nothing and raises RowInvalid."""
    try:
        with transaction.atomic():
            if contact is None:
                contact = contact_create(
                    workspace=workspace, actor=actor, email=plan.email, properties=plan.properties
                )
            elif plan.properties:
                contact = contact_update(contact=contact, actor=actor, properties=plan.properties)
            if plan.suppress:
                contact_suppress(
                    contact=contact, flag="do_not_contact", reason=IMPORT_REASON, actor=actor
                )
    except ValidationFailed as exc:
        raise RowInvalid(row_errors_of(exc)) from None
    except Conflict as exc:
        raise RowInvalid({"email": [exc.message]}) from None
    return contact
