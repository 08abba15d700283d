"""Events that move or end cadence enrollments, from wherever they happen.

- An action reaching a final status arrives as `outreach.signals.action_finished`,
  sent by outreach.transitions inside the transaction that finalised it: a
  cadence step's action advances its enrollment (`enrollment_advance`: the next
  step, completion, or a stop) in that same transaction, so a worker dying after
  the commit cannot lose the advance, and a failing advance rolls the
  transition back.

- A suppression flag set on a contact by any path (the unsubscribe link, the
  contact admin, a CSV import, `PUT /v1/contacts` with `do_not_contact`, bounce
  handling) arrives as `contacts.signals.contact_suppression_changed`, sent
  inside the contacts service's transaction: the contact's active enrollments
  stop (`unsubscribed`, `bounced`, `do_not_contact`) in that same transaction.
- A deleted contact's enrollments stop (`manual`) before the rows go, so their
  scheduled actions are cancelled rather than sent to nobody's record.
- An ESP's tracking webhook (django-anymail, `/webhooks/anymail/<esp>/tracking/`):
  `bounced` marks the contact bounced, `complained` and `unsubscribed` mark it
  unsubscribed, through `contacts.services.contact_suppress` (and so, by the
  signal above, stop its enrollments). The action is found by the `action_id`
  our email executor puts in the ESP's metadata, else by the event's message id
  against `Action.provider_message_id`; the contact is the action's, or the
  workspace's contact with the event's recipient address when that differs (a
  bounce of a Cc'd address is not the contact's).
A reply stops enrollments in `automations.services.inbound.inbound_message_receive`.
"""

from __future__ import annotations

import logging

from anymail.signals import tracking as anymail_tracking
from django.dispatch import receiver

from accounts.actors import Actor
from contacts.services import contact_suppress, contacts_by_email
from contacts.signals import contact_deleted, contact_suppression_changed
from outreach.models import Action, StopReason
from outreach.services.cadences import (
    SUPPRESSION_STOP_REASONS,
    enrollment_advance,
    enrollments_stop_for_contact,
)
from outreach.signals import action_finished

logger = logging.getLogger("outreach.receivers")

# anymail's normalised event type → the contact's suppression flag.
TRACKING_FLAGS = {
    "bounced": "bounced",
    "complained": "unsubscribed",
    "unsubscribed": "unsubscribed",
}
# ESP bounce types anymail reports as "bounced" that are not permanent.
SOFT_BOUNCES = {"SoftBounce", "Transient", "DnsError"}


@receiver(action_finished)
def on_action_finished(sender, action: Action, **kwargs) -> None:
    # Runs in the caller's transaction (signals are synchronous).
    if action.enrollment_id:
        enrollment_advance(action=action)


@receiver(contact_suppression_changed)
def on_suppression_changed(sender, contact, actor, flag, value, reason="", **kwargs) -> None:
    if not value:
        return  # lifting a flag restarts nothing: enroll the contact again
    note = f"{flag.replace('_', ' ')}" + (f": {reason}" if reason else "")
    enrollments_stop_for_contact(
        contact=contact, reason=SUPPRESSION_STOP_REASONS[flag], note=note, actor=actor
    )


@receiver(contact_deleted)
def on_contact_deleted(sender, contact, actor, **kwargs) -> None:
    enrollments_stop_for_contact(
        contact=contact, reason=StopReason.MANUAL, note="The contact was deleted.", actor=actor
    )


def _action_for(event) -> Action | None:
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    action_id = metadata.get("action_id")
    if isinstance(action_id, str) and action_id:
        action = (
            Action.objects.select_related("contact", "workspace")
            .filter(public_id=action_id)
            .first()
        )
        if action is not None:
            return action
    message_id = str(event.message_id or "").strip()
    if not message_id:
        return None
    candidates = {message_id, message_id.strip("<>"), f"<{message_id.strip('<>')}>"}
    return (
        Action.objects.select_related("contact", "workspace")
        .filter(provider_message_id__in=candidates)
        .order_by("id")
        .first()
    )


def _soft_bounce(event) -> bool:
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    return event.event_type == "bounced" and raw.get("Type") in SOFT_BOUNCES


@receiver(anymail_tracking)
def on_anymail_tracking(sender, event, esp_name: str, **kwargs) -> None:
    flag = TRACKING_FLAGS.get(event.event_type)
    if flag is None or _soft_bounce(event):
        return
    action = _action_for(event)
    if action is None:
        logger.warning(
            "anymail %s %s for message %r: no action sent it, ignored",
            esp_name,
            event.event_type,
            event.message_id,
        )
        return
    contact = action.contact
    recipient = (event.recipient or "").strip().lower()
    if recipient and (contact is None or contact.email.lower() != recipient):
        contact = contacts_by_email(action.workspace, [recipient]).first()
    if contact is None:
        logger.info("anymail %s %s: no contact for %r", esp_name, event.event_type, recipient)
        return
    detail = event.description or event.reject_reason or ""
    contact_suppress(
        contact=contact,
        flag=flag,
        reason=f"{esp_name} {event.event_type}" + (f": {detail}" if detail else ""),
        actor=Actor.system(f"esp:{esp_name}"),
    )
