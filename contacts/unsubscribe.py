"""Signed unsubscribe links: one public URL per contact, ``/u/<token>``.

The token is ``<workspace public id>.<contact public id>.<signature>``, e.g.
``ws_3f9a1c0d2b7e4a51.ct_0b1c2d3e4f5a6b7c.<43 chars>``: a django.core.signing
HMAC-SHA256 over the two ids with its own salt, so a token signed for any other
purpose is refused here. Every character is URL-unreserved (``A-Za-z0-9._-``),
so the token needs no escaping in a path or an email header, and contains no "/".

Decisions:

- **Tokens never expire.** An unsubscribe link in an old email must keep
  working (CAN-SPAM requires at least 30 days, and people unsubscribe from
  mail they received months ago). The token is a capability to do one thing,
  switch the contact's mail off, so a long life costs nothing. Rotating
  ``SECRET_KEY`` breaks every link already sent unless the old key stays in
  ``SECRET_KEY_FALLBACKS`` (django.core.signing honours it).
- **The signed value names ids, not the email address**, so it leaks no
  personal data (the payload is readable, only tamper-proof). The workspace's
  *public* id is used rather than its primary key, so links reveal nothing
  about how many tenants exist; the lookup also checks that the contact still
  belongs to that workspace.
- A contact that was deleted (and perhaps re-created with the same email, which
  gives it a new public id) makes its old links answer 404.
- **HTTPS only, no mailto.** ``List-Unsubscribe`` carries only the https URL:
  RFC 8058 one-click needs it, and a mailto would need an inbound mailbox that
  this service does not run. ``PUBLIC_BASE_URL`` must be https in production,
  or mailbox providers ignore the one-click header.
"""

from __future__ import annotations

import re

from django.core import signing
from django.urls import reverse

from config.links import public_url
from contacts.models import Contact

SALT = "contacts.unsubscribe"
SEP = "."
# Generous upper bound on a real token (about 82 characters), checked before any
# HMAC is computed or the database is asked.
MAX_TOKEN_LENGTH = 200
_PUBLIC_ID = re.compile(r"[A-Za-z0-9_]{1,32}")

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT, sep=SEP)


def unsubscribe_token(contact: Contact) -> str:
    """The signed token for the contact's unsubscribe URL (stable: same contact,
    same token)."""
    return _signer().sign(f"{contact.workspace.public_id}{SEP}{contact.public_id}")


def contact_from_token(token: str) -> Contact | None:
    """The contact a token names, or None if the token is forged, mangled or
    names a contact that no longer exists. Never raises for bad input."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        value = _signer().unsign(token)
    except signing.BadSignature:
        return None
    parts = value.split(SEP)
    if len(parts) != 2 or not all(_PUBLIC_ID.fullmatch(part) for part in parts):
        return None
    workspace_public_id, contact_public_id = parts
    return (
        Contact.objects.select_related("workspace")
        .filter(public_id=contact_public_id, workspace__public_id=workspace_public_id)
        .first()
    )


def unsubscribe_url(contact: Contact) -> str:
    """The absolute public unsubscribe URL for the contact."""
    return public_url(reverse("unsubscribe", kwargs={"token": unsubscribe_token(contact)}))


def unsubscribe_headers(contact: Contact) -> dict[str, str]:
    """``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 2369, RFC 8058) for
    an outgoing email to the contact. The message must be DKIM-signed over both
    headers for mailbox providers to offer one-click unsubscribe."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(contact)}>",
        "List-Unsubscribe-Post": f"{ONE_CLICK_FIELD}={ONE_CLICK_VALUE}",
    }
