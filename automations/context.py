"""What a hook run's context says about its contact and conversation, built in
one place so `{{ endUser.… }}` and `{{ ticket.… }}` mean the same whichever event
fired the hook (a contact change, an inbound message, an escalation, a pickup, a
user trigger).

The template vocabulary of automations is here too: `template_context` (what a
template sees at run time: `contact` = `endUser`, `conversation` = `ticket`) and
`automation_vocabulary` (the names a definition's templates may use, checked when
it is saved)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from automations.models import ActionDefinition
from contacts.models import Contact, Conversation, Message
from contacts.vocabulary import (
    CONTACT_ROOTS,
    contact_variables,
    contact_vocabulary,
    custom_property_names,
    with_aliases,
)


def addressed_to(context: Mapping[str, Any]) -> str:
    """The address the run's message was sent to (its mailbox answers it)."""
    return str((context.get("message") or {}).get("to", ""))


def end_user_context(contact: Contact) -> dict:
    """The contact as `endUser` (`contact` in templates too): every property as the
    contacts API shows it (well-known and custom), `id` and `name`, each also under
    its AnswerPal alias (`contactId`, `firstName`, ...; contacts.vocabulary)."""
    return {k: v for k, v in contact_variables(contact).items() if isinstance(k, str)}


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


# --- the template vocabulary ----------------------------------------------------------------
# The conversation is `ticket` in AnswerPal's words (seed 004); both names reach it, as
# `contact` and `endUser` reach the contact (contacts.vocabulary: the hub's names are the
# canonical ones, AnswerPal's the aliases).
TICKET_ROOTS = ("conversation", "ticket")
# variable -> (its attributes, meaning). None: any attribute (data whose keys vary).
AUTOMATION_VARIABLES: dict[str, tuple[tuple[str, ...] | None, str]] = {
    "conversation": (("id", "status", "subject", "channel"), "The conversation (th_…)."),
    "message": (
        ("id", "from", "to", "subject", "body"),
        "The message that started the run (inbound pipeline, escalation, pickup).",
    ),
    "topic": (("id", "name"), "The detected topic (after DetectTopics / topic detection)."),
    "escalation": (
        ("reason", "to", "status", "error", "handoffAction"),
        "The escalation (OnEscalate, PostEscalate, OnEscalateFailed).",
    ),
    "call": (("id", "from", "to", "transcript"), "The answered call (OnPhonePickup…)."),
    "changes": (None, "OnEndUserUpdate: the changed properties, {name: {from, to}}."),
    "arguments": (None, "A function tool's arguments (POST /api/Actions/{id}/run)."),
}


def template_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """What an automation template sees: the run's context, with `contact` and
    `endUser` (each attribute under both spellings) and `conversation` and `ticket`
    reaching the same objects, whichever of them the context carries."""
    result = dict(context or {})
    for roots, expand in ((CONTACT_ROOTS, with_aliases), (TICKET_ROOTS, None)):
        present = [result[root] for root in roots if root in result]
        if not present:
            continue
        dicts = [value for value in present if isinstance(value, Mapping)]
        # A mapping may have written into either name: both are merged, AnswerPal's last.
        value = {k: v for d in dicts for k, v in d.items()} if dicts else present[-1]
        if expand is not None and dicts:
            value = expand(value)
        for root in roots:
            result[root] = value
    return result


def _mapped_paths(texts: Iterable[str]) -> list[list[str]]:
    """The context paths responseFieldMapping JSON objects write (their keys)."""
    paths = []
    for text in texts:
        try:
            mapping = json.loads(text) if text else {}
        except (ValueError, RecursionError):
            continue
        if isinstance(mapping, dict):
            paths.extend(key.split(".") for key in mapping if isinstance(key, str) and key)
    return paths


def automation_vocabulary(
    *, workspace_id: int, response_mappings: Iterable[str] = ()
) -> dict[str, Any]:
    """The variables an action definition's templates may name
    (config.templating.unknown_variables): the contact (custom properties of the
    workspace's contacts included), the conversation, and the rest of
    AUTOMATION_VARIABLES, under both names where there are two, plus every context path
    a responseFieldMapping of the workspace (`response_mappings` and the stored
    definitions') writes, since an earlier ApiCall step may have put it there. A
    definition is not tied to one hook, so every hook's variables are known."""
    person = contact_vocabulary(custom_property_names(workspace_id))
    vocabulary: dict[str, Any] = {root: dict(person) for root in CONTACT_ROOTS}
    for name, (attributes, _meaning) in AUTOMATION_VARIABLES.items():
        value = None if attributes is None else dict.fromkeys(attributes)
        for root in TICKET_ROOTS if name == "conversation" else (name,):
            vocabulary[root] = None if value is None else dict(value)
    stored = ActionDefinition.objects.filter(workspace_id=workspace_id).exclude(
        response_field_mapping=""
    )
    texts = [*response_mappings, *stored.values_list("response_field_mapping", flat=True)]
    for path in _mapped_paths(texts):
        for root in _aliases_of(path[0]):
            _add_path(vocabulary, [root, *path[1:]])
    return vocabulary


def _aliases_of(root: str) -> tuple[str, ...]:
    for roots in (CONTACT_ROOTS, TICKET_ROOTS):
        if root in roots:
            return roots
    return (root,)


def _add_path(vocabulary: dict[str, Any], path: list[str]) -> None:
    """Make `path` known: its first unknown segment takes anything below it."""
    node: dict[str, Any] | None = vocabulary
    for segment in path:
        if node is None:
            return
        if segment not in node:
            node[segment] = None
            return
        node = node[segment]
