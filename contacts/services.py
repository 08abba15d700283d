"""Every change to contacts, companies, notes and the timeline goes through here.

Each change is also an event in the contact's timeline (ContactEvent), written
in the same transaction, so the timeline never disagrees with the data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from config.exceptions import Conflict, DomainError, ValidationFailed
from contacts import signals
from contacts.models import (
    Company,
    Contact,
    ContactEvent,
    Conversation,
    ConversationStatus,
    Direction,
    EscalationStatus,
    LifecycleStage,
    Message,
    Note,
    VisitorId,
)
from contacts.normalise import normalise_email
from contacts.properties import COLUMN_PROPERTIES, clean_properties

BATCH_LIMIT = 100


class EventType:
    CREATED = "contact.created"
    UPDATED = "contact.updated"
    LIFECYCLE_CHANGED = "contact.lifecycle_changed"
    SUPPRESSION_CHANGED = "contact.suppression_changed"
    DELETED = "contact.deleted"
    NOTE_CREATED = "note.created"
    NOTE_UPDATED = "note.updated"
    NOTE_DELETED = "note.deleted"
    # Action outcomes: "action.<final status>" (completed, failed, cancelled,
    # rejected), written by outreach.services when an action on the contact ends.


# --- The timeline ----------------------------------------------------------------
def event_record(
    *,
    contact: Contact,
    type: str,
    actor: Actor,
    data: dict | None = None,
    occurred_at: dt.datetime | None = None,
) -> ContactEvent:
    [event] = events_record(events=[(contact, type, data)], actor=actor, occurred_at=occurred_at)
    return event


def events_record(
    *,
    events: Sequence[tuple[Contact, str, dict | None]],
    actor: Actor,
    occurred_at: dt.datetime | None = None,
) -> list[ContactEvent]:
    """Timeline events (contact, type, data) by one actor, in one INSERT."""
    when = occurred_at or timezone.now()
    return ContactEvent.objects.bulk_create(
        [
            ContactEvent(
                workspace_id=contact.workspace_id,
                contact=contact,
                contact_public_id=contact.public_id,
                contact_email=contact.email,
                type=type,
                data=data or {},
                actor_label=actor.label,
                occurred_at=when,
            )
            for contact, type, data in events
        ]
    )


# --- Helpers ------------------------------------------------------------------
def search_text_of(contact: Contact, company_name: str | None = None) -> str:
    if company_name is None:
        company_name = contact.company.name if contact.company_id else ""
    parts = [contact.firstname, contact.lastname, contact.email, contact.jobtitle, company_name]
    return " ".join(p for p in parts if p).lower()


def company_get_or_create(*, workspace: Workspace, name: str) -> Company | None:
    name = name.strip()
    if not name:
        return None
    company = (
        Company.objects.for_workspace(workspace)
        .annotate(name_lower=Lower("name"))
        .filter(name_lower=name.lower())
        .order_by("id")
        .first()
    )
    return company or Company.objects.create(workspace=workspace, name=name)


def company_update(*, company: Company, changes: dict[str, Any]) -> Company:
    allowed = {"name", "domain", "industry", "size", "country"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(fields={k: ["Not editable."] for k in sorted(unknown)})
    with transaction.atomic():
        for key, value in changes.items():
            setattr(company, key, value)
        company.save()
        if "name" in changes:
            # Contacts search by company name: refresh their search text in batches.
            contacts = list(Contact.objects.filter(company=company).select_related("company"))
            for contact in contacts:
                contact.search_text = search_text_of(contact, company.name)
            Contact.objects.bulk_update(contacts, ["search_text"], batch_size=500)
    return company


def contacts_by_email(workspace: Workspace, emails: list[str]) -> QuerySet[Contact]:
    """Case-insensitive, served by the unique (workspace, lower(email)) index."""
    lowered = [e.strip().lower() for e in emails]
    return (
        Contact.objects.for_workspace(workspace)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=lowered)
    )


def _set_visitor_ids(contact: Contact, visitor_ids: list[str]) -> None:
    for visitor_id in visitor_ids:
        VisitorId.objects.update_or_create(
            workspace_id=contact.workspace_id,
            visitor_id=visitor_id,
            defaults={"contact": contact},
        )


def clean_visitor_ids(raw: Any) -> tuple[list[str], dict[str, list[str]]]:
    if raw is None:
        return [], {}
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        return [], {"visitor_id": ["Must be a string or a list of non-empty strings."]}
    if any(len(i) > 128 for i in items):
        return [], {"visitor_id": ["Each visitor id is at most 128 characters."]}
    return list(dict.fromkeys(i.strip() for i in items)), {}


@dataclass
class _Changes:
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)


def _apply(contact: Contact, known: dict, custom: dict, changes: _Changes) -> None:
    for name, value in known.items():
        if name == "company":
            continue
        if name == "email":
            old = contact.email
            if old != value:
                changes.fields["email"] = {"from": old, "to": value}
                contact.email = value
            continue
        column = COLUMN_PROPERTIES[name]
        old = getattr(contact, column)
        if old != value:
            changes.fields[name] = {"from": old, "to": value}
            setattr(contact, column, value)
            if name == "do_not_contact":
                contact.do_not_contact_at = timezone.now() if value else None
    for name, value in custom.items():
        old = contact.properties.get(name)
        if value is None:
            if name in contact.properties:
                changes.fields[name] = {"from": old, "to": None}
                contact.properties.pop(name)
        elif old != value:
            changes.fields[name] = {"from": old, "to": value}
            contact.properties[name] = value


def _set_company(contact: Contact, known: dict, changes: _Changes) -> None:
    if "company" not in known:
        return
    old = contact.company.name if contact.company_id else ""
    new = known["company"]
    if old == new:
        return
    contact.company = company_get_or_create(workspace=contact.workspace, name=new)
    changes.fields["company"] = {"from": old, "to": new}


def _save_unique(contact: Contact) -> None:
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        raise Conflict(
            f"A contact with the email {contact.email} already exists.", code="duplicate_contact"
        ) from None


def _record_changes(contact: Contact, changes: _Changes, actor: Actor) -> None:
    if not changes.fields:
        return
    event_record(
        contact=contact, type=EventType.UPDATED, actor=actor, data={"changes": changes.fields}
    )
    if "lifecyclestage" in changes.fields:
        event_record(
            contact=contact,
            type=EventType.LIFECYCLE_CHANGED,
            actor=actor,
            data={**changes.fields["lifecyclestage"], "reason": ""},
        )
    if "do_not_contact" in changes.fields:
        event_record(
            contact=contact,
            type=EventType.SUPPRESSION_CHANGED,
            actor=actor,
            data={"flag": "do_not_contact", **changes.fields["do_not_contact"]},
        )
        signals.contact_suppression_changed.send(
            sender=Contact,
            contact=contact,
            actor=actor,
            flag="do_not_contact",
            value=bool(changes.fields["do_not_contact"]["to"]),
            reason="",
        )


# --- Contacts -------------------------------------------------------------------
def contact_create(
    *,
    workspace: Workspace,
    actor: Actor,
    email: Any,
    properties: Any = None,
    visitor_ids: Any = None,
) -> Contact:
    errors: dict[str, list[str]] = {}
    try:
        email = normalise_email(email) if isinstance(email, str) else None
    except ValidationFailed as exc:
        errors["email"] = [exc.message]
        email = None
    if email is None and "email" not in errors:
        errors["email"] = ["This field is required."]
    known, custom, property_errors = clean_properties(properties)
    errors.update(property_errors)
    if "email" in known and email and known["email"].lower() != email.lower():
        errors["properties.email"] = ["Differs from email."]
    ids, id_errors = clean_visitor_ids(visitor_ids)
    errors.update(id_errors)
    ValidationFailed.raise_for(errors)

    with transaction.atomic():
        if contacts_by_email(workspace, [email]).exists():
            raise Conflict(
                f"A contact with the email {email} already exists.", code="duplicate_contact"
            )
        contact = Contact(workspace=workspace, email=email)
        known.pop("email", None)
        _apply(contact, known, custom, _Changes())
        _set_company(contact, known, _Changes())
        contact.search_text = search_text_of(contact)
        _save_unique(contact)
        _set_visitor_ids(contact, ids)
        event_record(
            contact=contact,
            type=EventType.CREATED,
            actor=actor,
            data={"properties": {**known, **custom}},
        )
        signals.contact_added.send(sender=Contact, contact=contact, actor=actor)
    return contact


def contact_update(
    *,
    contact: Contact,
    actor: Actor,
    properties: Any = None,
    visitor_ids: Any = None,
) -> Contact:
    """Merge `properties` into the contact (a null custom value removes it)."""
    known, custom, errors = clean_properties(properties)
    ids, id_errors = clean_visitor_ids(visitor_ids)
    errors.update(id_errors)
    ValidationFailed.raise_for(errors)
    with transaction.atomic():
        locked = (
            Contact.objects.select_for_update(of=("self",))
            .select_related("company")
            .get(pk=contact.pk)
        )
        changes = _Changes()
        _apply(locked, known, custom, changes)
        _set_company(locked, known, changes)
        if changes.fields:
            locked.search_text = search_text_of(locked)
            _save_unique(locked)
            _record_changes(locked, changes, actor)
            signals.contact_updated.send(
                sender=Contact, contact=locked, actor=actor, changes=changes.fields
            )
        _set_visitor_ids(locked, ids)
    return locked


DELETE_ATTEMPTS = 3


def contact_delete(*, contact: Contact, actor: Actor) -> None:
    """Remove the contact and its notes; its events and actions stay (the FK is
    nulled, the email and id live on in the events' snapshot).

    A request that records an event for the contact meanwhile (one of its
    actions reaching a final status) can commit it after the delete nulled the
    events it saw and before the delete commits; the foreign key, checked at
    commit, then refuses the delete. So the delete runs again from the start,
    and sees that event this time. Inside an outer transaction the check comes
    at the outer commit, out of reach: one attempt."""
    attempts = 1 if transaction.get_connection().in_atomic_block else DELETE_ATTEMPTS
    pk = contact.pk
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                event_record(contact=contact, type=EventType.DELETED, actor=actor, data={})
                signals.contact_deleted.send(sender=Contact, contact=contact, actor=actor)
                contact.delete()
            return
        except IntegrityError:
            if attempt == attempts:
                raise
            contact = Contact.objects.filter(pk=pk).first()  # delete() cleared its pk
            if contact is None:
                return  # deleted by someone else meanwhile


def contact_set_lifecycle_stage(
    *, contact: Contact, stage: str, reason: str, actor: Actor, action_id: str = ""
) -> Contact:
    """The audited stage change behind `update_lifecycle_stage` actions."""
    if stage not in LifecycleStage.values:
        raise ValidationFailed(
            fields={"stage": [f"Must be one of: {', '.join(LifecycleStage.values)}."]}
        )
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        before = locked.lifecyclestage
        if before != stage:
            locked.lifecyclestage = stage
            locked.save(update_fields=["lifecyclestage", "updated_at"])
        event_record(
            contact=locked,
            type=EventType.LIFECYCLE_CHANGED,
            actor=actor,
            data={"from": before, "to": stage, "reason": reason, "action_id": action_id},
        )
    return locked


SUPPRESSION_FLAGS = ("unsubscribed", "bounced", "do_not_contact")


def contact_suppress(
    *, contact: Contact, flag: str, reason: str, actor: Actor, value: bool = True
) -> bool:
    """Set (or clear) one suppression flag. Returns False when nothing changed,
    so repeated unsubscribes or bounces are harmless and leave one event."""
    if flag not in SUPPRESSION_FLAGS:
        raise ValueError(flag)
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        if getattr(locked, flag) == value:
            return False
        setattr(locked, flag, value)
        setattr(locked, f"{flag}_at", timezone.now() if value else None)
        setattr(locked, f"{flag}_reason", reason[:255] if value else "")
        locked.save(update_fields=[flag, f"{flag}_at", f"{flag}_reason", "updated_at"])
        event_record(
            contact=locked,
            type=EventType.SUPPRESSION_CHANGED,
            actor=actor,
            data={"flag": flag, "from": not value, "to": value, "reason": reason},
        )
        signals.contact_suppression_changed.send(
            sender=Contact, contact=locked, actor=actor, flag=flag, value=value, reason=reason
        )
    contact.__dict__.update({k: getattr(locked, k) for k in (flag, f"{flag}_at", f"{flag}_reason")})
    return True


# --- Batch ------------------------------------------------------------------------
@dataclass
class BatchItemResult:
    index: int
    email: str
    status: str  # created | updated | error
    contact: Contact | None = None
    error: DomainError | None = None


def contacts_batch_upsert(
    *, workspace: Workspace, actor: Actor, items: list[dict]
) -> list[BatchItemResult]:
    """Create or update up to 100 contacts by email; each item in its own
    transaction, so one bad item does not block the others."""
    if len(items) > BATCH_LIMIT:
        raise ValidationFailed(fields={"upsert": [f"At most {BATCH_LIMIT} items at once."]})
    emails = [
        i.get("email") for i in items if isinstance(i, dict) and isinstance(i.get("email"), str)
    ]
    existing = {c.email.lower(): c for c in contacts_by_email(workspace, emails)}
    results: list[BatchItemResult] = []
    for index, item in enumerate(items):
        email = item.get("email") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise ValidationFailed(fields={"non_field_errors": ["Must be an object."]})
            contact = existing.get(email.strip().lower()) if isinstance(email, str) else None
            if contact is None:
                contact = contact_create(
                    workspace=workspace,
                    actor=actor,
                    email=email,
                    properties=item.get("properties"),
                    visitor_ids=item.get("visitor_id"),
                )
                existing[contact.email.lower()] = contact
                results.append(BatchItemResult(index, contact.email, "created", contact))
            else:
                contact = contact_update(
                    contact=contact,
                    actor=actor,
                    properties=item.get("properties"),
                    visitor_ids=item.get("visitor_id"),
                )
                results.append(BatchItemResult(index, contact.email, "updated", contact))
        except DomainError as exc:
            results.append(BatchItemResult(index, str(email or ""), "error", error=exc))
    return results


# --- Notes ------------------------------------------------------------------------
def note_create(*, contact: Contact, actor: Actor, content: str) -> Note:
    with transaction.atomic():
        note = Note.objects.create(
            workspace_id=contact.workspace_id,
            contact=contact,
            content=content,
            author=actor.user,
            author_label=actor.label,
        )
        event_record(
            contact=contact,
            type=EventType.NOTE_CREATED,
            actor=actor,
            data={"note_id": note.public_id, "excerpt": content[:200]},
        )
    return note


def note_update(*, note: Note, actor: Actor, content: str) -> Note:
    with transaction.atomic():
        note.content = content
        note.save(update_fields=["content", "updated_at"])
        event_record(
            contact=note.contact,
            type=EventType.NOTE_UPDATED,
            actor=actor,
            data={"note_id": note.public_id, "excerpt": content[:200]},
        )
    return note


def note_delete(*, note: Note, actor: Actor) -> None:
    with transaction.atomic():
        event_record(
            contact=note.contact,
            type=EventType.NOTE_DELETED,
            actor=actor,
            data={"note_id": note.public_id},
        )
        note.delete()


# --- Conversations and messages ------------------------------------------------------
# Outreach records what it sends, automations what arrives and what a hook run does
# to a conversation; the rows are written here only.
def conversation_open(
    *,
    workspace_id: int,
    contact: Contact | None,
    channel: str,
    subject: str = "",
    external_thread_id: str = "",
    last_message_at: dt.datetime | None = None,
) -> Conversation:
    """A new conversation (a phone conversation's `external_thread_id`, the provider's
    call id, is unique: a second one raises IntegrityError)."""
    return Conversation.objects.create(
        workspace_id=workspace_id,
        contact=contact,
        channel=channel,
        subject=subject,
        external_thread_id=external_thread_id,
        last_message_at=last_message_at,
    )


def conversation_touch(*, conversation: Conversation, at: dt.datetime) -> None:
    """Move `last_message_at` forward to `at`, never back (a conditional UPDATE: the
    instance may be older than the row, another send may have moved it meanwhile)."""
    if conversation.last_message_at is not None and conversation.last_message_at >= at:
        return  # the row's value only moves forward, so it is at least as late
    Conversation.objects.filter(pk=conversation.pk).filter(
        Q(last_message_at__isnull=True) | Q(last_message_at__lt=at)
    ).update(last_message_at=at, updated_at=timezone.now())
    conversation.last_message_at = at


def conversation_receive(*, conversation: Conversation, at: dt.datetime) -> None:
    """A message arrived at `at`: it is the latest, and a closed conversation reopens."""
    conversation.last_message_at = at
    if conversation.status == ConversationStatus.CLOSED:
        conversation.status = ConversationStatus.OPEN
    conversation.save(update_fields=["last_message_at", "status", "updated_at"])


def conversation_set_status(*, conversation: Conversation, status: str) -> bool:
    """Whether the status changed (False: it already was `status`). Conditional, so of
    two concurrent callers only one changes it. The instance is not refreshed."""
    changed = (
        Conversation.objects.filter(pk=conversation.pk, workspace_id=conversation.workspace_id)
        .exclude(status=status)
        .update(status=status, updated_at=timezone.now())
    )
    return bool(changed)


def conversation_escalation_start(*, conversation: Conversation, reason: str, to: str) -> bool:
    """Mark an escalation under way; False (nothing changed) when the conversation is
    not open or one is under way already. Conditional, so one of two concurrent
    escalations starts. The instance is not refreshed."""
    started = (
        Conversation.objects.filter(
            pk=conversation.pk,
            workspace_id=conversation.workspace_id,
            status=ConversationStatus.OPEN,
        )
        .exclude(escalation_status=EscalationStatus.PENDING)
        .update(
            escalation_status=EscalationStatus.PENDING,
            escalation_reason=reason[:500],
            escalated_to=to,
            escalated_at=None,
            updated_at=timezone.now(),
        )
    )
    return bool(started)


def conversation_escalation_finish(
    *, conversation: Conversation, failed: bool, at: dt.datetime
) -> None:
    """The escalation under way succeeded (escalated at `at`) or failed. The caller
    holds the conversation's row lock, taken while it was pending."""
    conversation.escalation_status = (
        EscalationStatus.FAILED if failed else EscalationStatus.ESCALATED
    )
    conversation.escalated_at = None if failed else at
    conversation.save(update_fields=["escalation_status", "escalated_at", "updated_at"])


def message_record(
    *,
    conversation: Conversation,
    direction: str,
    from_address: str,
    to_address: str,
    body: str,
    sent_at: dt.datetime,
    subject: str = "",
    provider_message_id: str = "",
) -> Message:
    return Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        direction=direction,
        from_address=from_address,
        to_address=to_address,
        subject=subject,
        body=body,
        sent_at=sent_at,
        provider_message_id=provider_message_id,
    )


def message_record_outbound(
    *,
    workspace_id: int,
    contact_id: int,
    channel: str,
    from_address: str,
    to_address: str,
    body: str,
    provider_message_id: str,
) -> bool:
    """Store a sent message in the contact's open conversation of `channel` (the most
    recent one; a new one when there is none). Returns whether a Message exists
    afterwards (False: the contact was deleted meanwhile).

    The contact row is locked while the conversation is found or created, so two sends
    to one contact never open two conversations. The same provider message id is not
    stored twice (a retry the provider de-duplicated)."""
    with transaction.atomic():
        contact = (
            Contact.objects.select_for_update()
            .filter(pk=contact_id, workspace_id=workspace_id)
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
            conversation = conversation_open(
                workspace_id=workspace_id, contact=contact, channel=channel
            )
        now = timezone.now()
        message_record(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            from_address=from_address,
            to_address=to_address,
            body=body,
            sent_at=now,
            provider_message_id=provider_message_id,
        )
        conversation_touch(conversation=conversation, at=now)
    return True


def message_delete(*, workspace_id: int, message_id: object) -> bool:
    """Whether a message of the workspace with that id was deleted."""
    deleted, _ = Message.objects.filter(workspace_id=workspace_id, pk=message_id).delete()
    return bool(deleted)
