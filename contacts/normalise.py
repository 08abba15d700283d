"""How the hub writes an address: emails as email-validator normalises them, phones in
E.164, LinkedIn profiles by their URL shape.

These know no HTTP: a refused value raises ValidationFailed whose message is for the
person who typed it; the caller knows which field it was and files the message under
it (contacts.properties, contacts.services, outreach.services), and outreach.params'
serializer fields turn it into a DRF field error.
"""

from __future__ import annotations

import re

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from config.exceptions import ValidationFailed

LINKEDIN_PROFILE = re.compile(
    r"^https://([a-z]{2,3}\.)?linkedin\.com/(in|pub)/[A-Za-z0-9\-_%.]{2,100}/?$"
)


def normalise_email(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationFailed(f"{value!r} is not a valid email address: {exc}") from None


def normalise_phone(value: str) -> str:
    """E.164 only: a leading + and a country code, so no guessing of regions."""
    if not isinstance(value, str) or not value.strip().startswith("+"):
        raise ValidationFailed("Must be an E.164 phone number such as +14155551234.")
    try:
        number = phonenumbers.parse(value.strip(), None)
    except phonenumbers.NumberParseException:
        raise ValidationFailed(f"{value!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(f"{value!r} is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
