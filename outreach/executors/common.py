"""Helpers shared by the HTTP executors (Twilio, LinkedIn webhook)."""

from __future__ import annotations

import logging

import httpx
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from config.queue import TransientError
from outreach.executors import ExecutionContext

logger = logging.getLogger(__name__)

# Failures before the request left this machine: the provider cannot have acted.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def transport_error(provider: str, exc: httpx.TransportError) -> TransientError:
    """A network failure as a TransientError saying whether the request may have landed."""
    outcome = "not_sent" if isinstance(exc, _NOT_SENT_ERRORS) else "unknown"
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return TransientError(
        f"{provider} request {kind}: {type(exc).__name__}: {exc}".rstrip(": "),
        detail={"outcome": outcome, "error": type(exc).__name__},
    )


def record_outbound_message(
    *,
    context: ExecutionContext,
    channel: str,
    to_address: str,
    body: str,
    provider_message_id: str,
) -> bool:
    """Store what was sent as an outbound Message in the contact's open conversation of
    `channel` (the most recent one; a new one when there is none) and move the
    conversation's `last_message_at`. Returns whether a Message exists afterwards.

    The contact row is locked while the conversation is found or created, so two sends
    to one contact never open two conversations. The same provider message id is not
    stored twice (a LinkedIn retry the receiver de-duplicated). A database failure here
    is logged and swallowed: the message has left, and raising would make the worker
    retry and send it again.
    """
    from contacts.models import (
        Contact,
        Conversation,
        ConversationStatus,
        Direction,
        Message,
    )

    if context.contact is None:
        return False
    workspace_id = context.action.workspace_id
    try:
        with transaction.atomic():
            contact = (
                Contact.objects.select_for_update()
                .filter(pk=context.contact.pk, workspace_id=workspace_id)
                .first()
            )
            if contact is None:  # deleted meanwhile
                return False
            conversations = Conversation.objects.filter(
                workspace_id=workspace_id, contact=contact, channel=channel
            )
            if (
                provider_message_id
                and Message.objects.filter(
                    workspace_id=workspace_id,
                    provider_message_id=provider_message_id,
                    conversation__in=conversations,
                ).exists()
            ):
                return True
            conversation = (
                conversations.filter(status=ConversationStatus.OPEN)
                .order_by(F("last_message_at").desc(nulls_last=True), "-id")
                .first()
            )
            if conversation is None:
                conversation = Conversation.objects.create(
                    workspace_id=workspace_id, contact=contact, channel=channel
                )
            now = timezone.now()
            Message.objects.create(
                workspace_id=workspace_id,
                conversation=conversation,
                direction=Direction.OUTBOUND,
                from_address=context.identity.address,
                to_address=to_address,
                body=body,
                sent_at=now,
                provider_message_id=provider_message_id,
            )
            if conversation.last_message_at is None or conversation.last_message_at < now:
                conversation.last_message_at = now
                conversation.save(update_fields=["last_message_at", "updated_at"])
    except DatabaseError:
        logger.exception(
            "Sent action %s (%s) but could not store its Message",
            context.action.public_id,
            provider_message_id,
        )
        return False
    return True
