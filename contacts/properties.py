"""HubSpot-style properties: the API reads and writes a contact as a flat dict.

Well-known names map onto the contact's own (validated, indexed) columns; any
other key is kept as given in `Contact.properties`. `unsubscribed` and
`bounced` are shown but read-only: they change through the unsubscribe link and
bounce handling, never through a PUT.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from config.exceptions import ValidationFailed
from contacts.models import Contact, LifecycleStage
from contacts.normalise import LINKEDIN_PROFILE, normalise_email, normalise_phone

# property name -> Contact column (company is handled apart: it is a relation)
COLUMN_PROPERTIES = {
    "firstname": "firstname",
    "lastname": "lastname",
    "jobtitle": "jobtitle",
    "phone": "phone",
    "city": "city",
    "state": "state",
    "country": "country",
    "industry": "industry",
    "lifecyclestage": "lifecyclestage",
    "lead_status": "lead_status",
    "linkedin_url": "linkedin_url",
    "timezone": "timezone",
    "do_not_contact": "do_not_contact",
}
READ_ONLY_PROPERTIES = {"unsubscribed", "bounced"}
WELL_KNOWN = {*COLUMN_PROPERTIES, "company", "email", *READ_ONLY_PROPERTIES}


def _text(limit: int):
    def check(value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str | int | float):
            raise ValidationFailed("Must be a string.")
        value = str(value).strip()
        if len(value) > limit:
            raise ValidationFailed(f"At most {limit} characters.")
        return value

    return check


def _phone(value: Any) -> str:
    if value in (None, ""):
        return ""
    return normalise_phone(value)


def _linkedin(value: Any) -> str:
    if value in (None, ""):
        return ""
    text = str(value).strip().replace("http://", "https://", 1)
    if not LINKEDIN_PROFILE.match(text):
        raise ValidationFailed(
            "Must be a LinkedIn profile URL such as https://www.linkedin.com/in/jane-doe."
        )
    return text


def _timezone(value: Any) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or value not in zoneinfo.available_timezones():
        raise ValidationFailed(f"{value!r} is not an IANA time zone.")
    return value


def _stage(value: Any) -> str:
    if value in (None, ""):
        return ""
    if value not in LifecycleStage.values:
        raise ValidationFailed(f"Must be one of: {', '.join(LifecycleStage.values)}.")
    return value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ValidationFailed("Must be true or false.")


def _email(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("Must be an email address.")
    return normalise_email(value.strip())


CLEANERS = {
    "firstname": _text(120),
    "lastname": _text(120),
    "jobtitle": _text(200),
    "phone": _phone,
    "city": _text(120),
    "state": _text(120),
    "country": _text(120),
    "industry": _text(120),
    "lifecyclestage": _stage,
    "lead_status": _text(64),
    "linkedin_url": _linkedin,
    "timezone": _timezone,
    "do_not_contact": _boolean,
    "company": _text(255),
    "email": _email,
}


def clean_properties(raw: Any, *, prefix: str = "properties") -> tuple[dict, dict, dict]:
    """Split and validate. Returns (well-known cleaned, custom, errors keyed
    `properties.<name>`)."""
    if raw is None:
        return {}, {}, {}
    if not isinstance(raw, dict):
        return {}, {}, {prefix: ["Must be an object."]}
    known: dict = {}
    custom: dict = {}
    errors: dict[str, list[str]] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name or len(name) > 100:
            errors[f"{prefix}.{name}"] = ["Property names are 1 to 100 characters."]
        elif name in READ_ONLY_PROPERTIES:
            errors[f"{prefix}.{name}"] = [
                "Read-only: set by the unsubscribe link and by bounce handling."
            ]
        elif name in CLEANERS:
            try:
                known[name] = CLEANERS[name](value)
            except ValidationFailed as exc:
                errors[f"{prefix}.{name}"] = [exc.message]
        else:
            custom[name] = value
    return known, custom, errors


def properties_of(contact: Contact) -> dict:
    """All properties, well-known ones included, as the API shows them."""
    shown = {name: getattr(contact, column) for name, column in COLUMN_PROPERTIES.items()}
    shown["email"] = contact.email
    shown["company"] = contact.company.name if contact.company_id else ""
    shown["unsubscribed"] = contact.unsubscribed
    shown["bounced"] = contact.bounced
    return {**contact.properties, **shown}
