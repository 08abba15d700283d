"""Helpers shared by the HTTP executors (Twilio, LinkedIn webhook)."""

from __future__ import annotations

import logging

import httpx
from django.db import DatabaseError

from config.queue import TransientError
from contacts.services import message_record_outbound
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
    `channel` (contacts.services.message_record_outbound: the contact's row locked, the
    same provider message id, a LinkedIn retry the receiver de-duplicated, not stored
    twice). Returns whether a Message exists afterwards. A database failure here is
    logged and swallowed: the message has left, and raising would make the worker retry
    and send it again.
    """
    if context.contact is None:
        return False
    try:
        return message_record_outbound(
            workspace_id=context.action.workspace_id,
            contact_id=context.contact.pk,
            channel=channel,
            from_address=context.identity.address,
            to_address=to_address,
            body=body,
            provider_message_id=provider_message_id,
        )
    except DatabaseError:
        logger.exception(
            "Sent action %s (%s) but could not store its Message",
            context.action.public_id,
            provider_message_id,
        )
        return False
