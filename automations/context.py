"""What a hook run's context says about its contact and conversation, built in
one place so `{{ endUser.… }}` and `{{ ticket.… }}` mean the same whichever event
fired the hook (a contact change, an inbound message, an escalation, a pickup, a
user trigger)."""

from __future__ import annotations

from contacts.models import Contact, Conversation, Message
from contacts.properties import properties_of


def end_user_context(contact: Contact) -> dict:
    """The contact as `endUser`: its ids and names, then every property as the
    contacts API shows it (well-known and custom)."""
    return {
        "contactId": contact.public_id,
        "email": contact.email,
        "phone": contact.phone,
        "firstName": contact.firstname,
        "lastName": contact.lastname,
        **{k: v for k, v in properties_of(contact).items() if isinstance(k, str)},
    }


def ticket_context(conversation: Conversation) -> dict:
    return {
        "id": conversation.public_id,
        "status": conversation.status,
        "subject": conversation.subject,
        "channel": conversation.channel,
    }


def hook_context(
    contact: Contact | None, conversation: Conversation, message: Message | None
) -> dict:
    """The context a conversation's hook run starts with: `endUser`, `ticket` (the
    conversation), `message` (the one that started it, else None) and `topic` (set
    by detection)."""
    return {
        "endUser": None if contact is None else end_user_context(contact),
        "ticket": ticket_context(conversation),
        "message": None
        if message is None
        else {
            "id": message.pk,
            "from": message.from_address,
            "to": message.to_address,
            "subject": message.subject,
            "body": message.body,
        },
        "topic": None,
    }
