"""Contact changes fire the OnEndUserAdd / OnEndUserUpdate / OnEndUserDelete
hooks, and inbound email from an ESP's webhook enters the inbound pipeline.

A contact hook run is stored only when the workspace links something to the
hook, so a CSV import of thousands of contacts does not write thousands of
empty runs."""

from __future__ import annotations

import logging

from anymail.signals import inbound as anymail_inbound
from django.db.models.functions import Lower
from django.dispatch import receiver
from django.utils.html import strip_tags

from accounts.actors import Actor
from automations.context import end_user_context
from automations.engine import hook_fire
from automations.models import HookAction, HookName
from automations.services.inbound import inbound_message_receive
from config.exceptions import DomainError
from contacts.models import Direction, Message
from contacts.signals import contact_added, contact_deleted, contact_updated
from outreach.models import Identity, IdentityChannel

logger = logging.getLogger("automations.receivers")


def _fire(hook_name: str, contact, extra: dict | None = None) -> None:
    linked = HookAction.objects.filter(
        workspace_id=contact.workspace_id, hook_name=hook_name, action__is_active=True
    ).exists()
    if not linked:
        return
    hook_fire(
        workspace=contact.workspace,
        hook_name=hook_name,
        context={"endUser": end_user_context(contact), **(extra or {})},
        contact=None if hook_name == HookName.ON_END_USER_DELETE else contact,
    )


@receiver(contact_added)
def on_contact_added(sender, contact, actor, **kwargs) -> None:
    _fire(HookName.ON_END_USER_ADD, contact)


@receiver(contact_updated)
def on_contact_updated(sender, contact, actor, changes, **kwargs) -> None:
    _fire(HookName.ON_END_USER_UPDATE, contact, {"changes": changes})


@receiver(contact_deleted)
def on_contact_deleted(sender, contact, actor, **kwargs) -> None:
    _fire(HookName.ON_END_USER_DELETE, contact)


# --- Inbound email from an ESP's webhook (django-anymail) ---------------------------------
@receiver(anymail_inbound)
def on_anymail_inbound(sender, event, esp_name: str, **kwargs) -> None:
    """An email received by the ESP enters the hub like `POST /v1/inbound/messages`.

    The workspace is the one whose active email identity the message was sent to
    (To, Cc, or the envelope recipient). Mail for no identity is logged and dropped:
    the webhook still answers 200, so the ESP does not retry it forever. A message
    id already stored is a retried delivery and is not received twice."""
    message = event.message
    if message is None or message.from_email is None:
        logger.warning("anymail inbound from %s without a message or sender: dropped", esp_name)
        return
    recipients = [a.addr_spec.lower() for a in [*message.to, *message.cc] if a.addr_spec]
    if message.envelope_recipient:
        recipients.append(message.envelope_recipient.lower())
    identity = (
        Identity.objects.annotate(address_lower=Lower("address"))
        .filter(channel=IdentityChannel.EMAIL, is_active=True, address_lower__in=recipients)
        .select_related("workspace")
        .order_by("id")
        .first()
    )
    if identity is None:
        logger.warning("anymail inbound for %s: no identity receives it, dropped", recipients)
        return
    message_id = (message.get("Message-ID") or "").strip()
    if (
        message_id
        and Message.objects.filter(
            workspace=identity.workspace,
            direction=Direction.INBOUND,
            provider_message_id=message_id[:255],
        ).exists()
    ):
        logger.info("anymail inbound %s already received: ignored", message_id)
        return
    body = message.text or (strip_tags(message.html) if message.html else "")
    try:
        inbound_message_receive(
            workspace=identity.workspace,
            actor=Actor.system(f"inbound:{esp_name}"),
            from_address=message.from_email.addr_spec,
            to_address=identity.address,
            subject=message.subject or "",
            body=body,
            in_reply_to=(message.get("In-Reply-To") or "").strip(),
            provider_message_id=message_id,
        )
    except DomainError as exc:
        logger.warning("anymail inbound from %s refused: %s", message.from_email, exc.message)
