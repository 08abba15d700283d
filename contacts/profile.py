"""A contact's actions, as its profile (GET /v1/contacts/{id}) shows them.

Actions live in outreach, a layer above contacts, so contacts cannot read them itself:
outreach sets the reader when it starts (OutreachConfig.ready, outreach/apps.py:
outreach.api.contacts.contact_actions_of) and the contact view asks through
`contact_actions`. With no reader set, a contact has no actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from contacts.models import Contact


@dataclass(frozen=True)
class ContactActions:
    counts: dict[str, int]  # how many of the contact's actions are in each status
    recent: list[dict]  # the newest `limit`, as the actions API shows them


ActionsReader = Callable[[Contact, int], ContactActions]

_reader: list[ActionsReader] = []  # at most one: outreach's


def contact_actions_reader_set(reader: ActionsReader) -> None:
    _reader[:] = [reader]


def contact_actions(contact: Contact, *, limit: int) -> ContactActions:
    if not _reader:
        return ContactActions(counts={}, recent=[])
    return _reader[0](contact, limit)
