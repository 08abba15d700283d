"""The contact's template variables: one vocabulary for cadence steps and automations.

Canonical names are the hub's own: `contact.<property>`, where the property is named
exactly as the contacts API names it (`firstname`, `lastname`, `jobtitle`, ...; custom
properties as stored). AnswerPal's `endUser.<camelCase>` (seed 004) is kept as an alias:
`endUser` is the same object as `contact`, and each attribute answers to both spellings
(`contact.firstName`, `endUser.firstname` work too). The table is `CONTACT_VARIABLES`.

Custom properties: `contact.<name>` for every custom property a contact of the workspace
carries (`custom_property_names`); a property no contact has yet is accepted when the
template says it may be missing (`{{ contact.plan | default('') }}`). `customerNumber`
(AnswerPal's end-user key, used by seed 004's `/customers/{{endUser.customerNumber}}`)
is listed, so a definition can name it before any contact carries it.

A known variable without a value (a contact with no first name) renders empty: that is
data, not a typo. Write `{{ contact.firstname | default('there') }}` for a fallback.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection

from contacts.models import Contact
from contacts.properties import properties_of


@dataclass(frozen=True)
class Variable:
    name: str  # canonical: contact.<name>
    alias: str  # AnswerPal's spelling: endUser.<alias> (often the same word)
    meaning: str


CONTACT_VARIABLES: tuple[Variable, ...] = (
    Variable("id", "contactId", "The contact's id (ct_…)."),
    Variable("email", "email", "Email address."),
    Variable("firstname", "firstName", "First name."),
    Variable("lastname", "lastName", "Last name."),
    Variable("name", "name", "First and last name."),
    Variable("jobtitle", "jobTitle", "Job title."),
    Variable("company", "company", "Company name."),
    Variable("phone", "phone", "Phone number (E.164)."),
    Variable("linkedin_url", "linkedinUrl", "LinkedIn profile URL."),
    Variable("city", "city", "City."),
    Variable("state", "state", "State or region."),
    Variable("country", "country", "Country."),
    Variable("industry", "industry", "Industry."),
    Variable("lifecyclestage", "lifecycleStage", "Lifecycle stage (lead, customer, …)."),
    Variable("lead_status", "leadStatus", "Lead status."),
    Variable("timezone", "timeZone", "IANA time zone."),
    Variable("do_not_contact", "doNotContact", "Do-not-contact flag (true/false)."),
    Variable("unsubscribed", "unsubscribed", "Unsubscribed (true/false)."),
    Variable("bounced", "bounced", "An email to the contact bounced (true/false)."),
    Variable(
        "customerNumber",
        "customerNumber",
        "The contact's number in your own systems: the custom property customerNumber.",
    ),
)
ALIASES: dict[str, str] = {v.alias: v.name for v in CONTACT_VARIABLES if v.alias != v.name}
# The variable itself: both names reach the same object.
CONTACT_ROOTS = ("contact", "endUser")

# What a template is checked and previewed against when there is no real contact.
SAMPLE_CONTACT_PROPERTIES: dict[str, Any] = {
    "id": "ct_sample",
    "email": "jane.doe@example.com",
    "firstname": "Jane",
    "lastname": "Doe",
    "name": "Jane Doe",
    "jobtitle": "Head of Operations",
    "company": "Example Inc",
    "phone": "+14155550123",
    "linkedin_url": "https://www.linkedin.com/in/jane-doe",
    "city": "San Francisco",
    "state": "CA",
    "country": "US",
    "industry": "Software",
    "lifecyclestage": "lead",
    "lead_status": "new",
    "timezone": "America/Los_Angeles",
    "do_not_contact": False,
    "unsubscribed": False,
    "bounced": False,
    "customerNumber": "C-1001",
}


def with_aliases(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`values` (a contact's variables) with each canonical name and its alias both set,
    whichever of the two it had (a hook run's stored context may carry either)."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        return values  # not a contact object: left as it is
    result = dict(values)
    for alias, name in ALIASES.items():
        if name in result:
            result.setdefault(alias, result[name])
        elif alias in result:
            result[name] = result[alias]
    if "name" not in result and ("firstname" in result or "lastname" in result):
        result["name"] = f"{result.get('firstname') or ''} {result.get('lastname') or ''}".strip()
    return result


def contact_variables(contact: Contact) -> dict[str, Any]:
    """What `{{ contact.… }}` / `{{ endUser.… }}` see: every property as the contacts API
    shows it (well-known and custom), `id` and `name`, and the aliases."""
    values = {
        **properties_of(contact),
        "id": contact.public_id,
        "name": f"{contact.firstname} {contact.lastname}".strip(),
    }
    return with_aliases(values) or {}


SAMPLE_CONTACT: dict[str, Any] = with_aliases(SAMPLE_CONTACT_PROPERTIES) or {}


def contact_vocabulary(custom: Iterable[str] = ()) -> dict[str, None]:
    """The attributes a template may name on `contact` / `endUser` (for
    config.templating.unknown_variables): canonical names, aliases, and `custom`."""
    names: dict[str, None] = {}
    for variable in CONTACT_VARIABLES:
        names[variable.name] = None
        names[variable.alias] = None
    for name in custom:
        names[name] = None
    return names


# Enough for any real workspace; a bound keeps the save-time check cheap whatever is stored.
MAX_CUSTOM_PROPERTY_NAMES = 5_000


def custom_property_names(workspace_id: int) -> set[str]:
    """The custom property names any contact of the workspace carries (one query)."""
    # The table name is the model's own, quoted; the values are parameters.
    table = connection.ops.quote_name(Contact._meta.db_table)
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT DISTINCT jsonb_object_keys(properties::jsonb) FROM {table} "  # noqa: S608
            "WHERE workspace_id = %s AND jsonb_typeof(properties::jsonb) = 'object' LIMIT %s"
        )
    elif connection.vendor == "sqlite":
        sql = (
            f"SELECT DISTINCT j.key FROM {table}, json_each({table}.properties) AS j "  # noqa: S608
            f"WHERE {table}.workspace_id = %s AND json_type({table}.properties) = 'object' "
            "LIMIT %s"
        )
    else:  # pragma: no cover - the project runs on PostgreSQL and SQLite
        names: set[str] = set()
        for props in Contact.objects.filter(workspace_id=workspace_id).values_list(
            "properties", flat=True
        ):
            names.update(k for k in (props or {}) if isinstance(k, str))
        return names
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace_id, MAX_CUSTOM_PROPERTY_NAMES])
        return {row[0] for row in cursor.fetchall() if isinstance(row[0], str)}


def preview_contact(workspace_id: int | None) -> tuple[dict[str, Any], Contact | None]:
    """Whom the admin's previews render a template for: the workspace's first contact
    (the oldest), else the built-in sample contact Jane Doe (contact None)."""
    contact = (
        Contact.objects.filter(workspace_id=workspace_id)
        .select_related("company")
        .order_by("id")
        .first()
        if workspace_id is not None
        else None
    )
    if contact is None:
        return dict(SAMPLE_CONTACT), None
    return contact_variables(contact), contact


def preview_contact_label(*, contact: Contact | None, variables: Mapping[str, Any]) -> str:
    """Whom a preview is for, as the admin's previews say it, from what
    `preview_contact` returned."""
    who = variables.get("name") or variables.get("email") or "the contact"
    if contact is None:
        return f"{who} <{variables.get('email')}>, a built-in sample contact (no contact yet)"
    email = f" <{contact.email}>" if contact.email else ""
    return f"{who}{email}, the workspace's first contact"
