"""Signed one-click links of approval request emails (README "Approval requests").

A decision link is ``/approvals/<token>``: ``django.core.signing.dumps`` of
``{"a": action pk, "u": reviewer user pk, "d": "approve" | "reject", "n": nonce}``
with its own salt, timestamped, so it is tamper-proof, names its reviewer and
expires after ``APPROVAL_LINK_HOURS`` (``loads(max_age=...)``). The payload is
readable (base64, not encrypted): it holds only primary keys and a random nonce.

- **Single use**: the nonce is written to ``ApprovalLinkUse`` (unique) in the same
  transaction as the decision (``outreach.services.approvals.approval_link_decide``),
  so a link decides at most once, even when two clicks race.
- **The link is the authentication**, like an unsubscribe link: a reviewer needs
  no admin session. It is a capability for one decision on one action by one
  named reviewer, and the reviewer's rights are re-checked when it is used.
- Rotating ``SECRET_KEY`` invalidates outstanding links unless the old key stays
  in ``SECRET_KEY_FALLBACKS``.

The footer's opt-out link, ``/approvals/emails-off/<token>``, signs the
membership's pk with another salt and never expires (an old email's opt-out
link must keep working, as an unsubscribe link does).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from accounts.models import Membership
from config.links import public_url
from outreach.models import Action, Decision

DECISION_SALT = "outreach.approval-link"
EMAILS_OFF_SALT = "outreach.approval-emails-off"
# Generous upper bound on a real token, checked before any HMAC is computed.
MAX_TOKEN_LENGTH = 300
LINK_DECISIONS = (Decision.APPROVE, Decision.REJECT)


class LinkExpired(Exception):
    """A well-signed link older than APPROVAL_LINK_HOURS."""


class LinkInvalid(Exception):
    """A forged, mangled or truncated link."""


@dataclass(frozen=True)
class DecisionLink:
    action_id: int
    reviewer_id: int
    decision: str
    nonce: str


def decision_token(*, action: Action, reviewer_id: int, decision: str) -> str:
    if decision not in LINK_DECISIONS:
        raise ValueError(f"A link approves or rejects, not {decision!r}.")
    payload = {"a": action.pk, "u": reviewer_id, "d": decision, "n": secrets.token_hex(12)}
    return signing.dumps(payload, salt=DECISION_SALT)


def decision_link_from_token(token: str) -> DecisionLink:
    """The link a token stands for; raises LinkExpired or LinkInvalid."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise LinkInvalid
    try:
        data = signing.loads(token, salt=DECISION_SALT, max_age=settings.APPROVAL_LINK_HOURS * 3600)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
    try:
        link = DecisionLink(
            action_id=int(data["a"]),
            reviewer_id=int(data["u"]),
            decision=str(data["d"]),
            nonce=str(data["n"]),
        )
    except (KeyError, TypeError, ValueError):
        raise LinkInvalid from None
    if link.decision not in LINK_DECISIONS or not link.nonce:
        raise LinkInvalid
    return link


def decision_url(*, action: Action, reviewer_id: int, decision: str) -> str:
    token = decision_token(action=action, reviewer_id=reviewer_id, decision=decision)
    return public_url(reverse("approval_link", kwargs={"token": token}))


def emails_off_token(membership: Membership) -> str:
    return signing.dumps({"m": membership.pk}, salt=EMAILS_OFF_SALT)


def membership_from_emails_off_token(token: str) -> Membership | None:
    """The membership an opt-out token names, or None (forged, or gone)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        data = signing.loads(token, salt=EMAILS_OFF_SALT)
        pk = int(data["m"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None
    return Membership.objects.select_related("workspace", "user").filter(pk=pk).first()


def emails_off_url(membership: Membership) -> str:
    return public_url(
        reverse("approval_emails_off", kwargs={"token": emails_off_token(membership)})
    )
