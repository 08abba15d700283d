"""Conversation events that fire hooks: an escalation, a close, a phone pickup.

Escalation is a hand-off to a human, in two stages, like the inbound pipeline
(each stage a hook run; the run's completion starts the next):

    conversation_escalate → OnEscalate run ─ every step completed or skipped ─→ escalated
                                            │   (and the hand-off email, when `to` is given)
                                            │   → PostEscalate run
                                            └ a step failed, or the hand-off could not be
                                              made ─→ escalation failed → OnEscalateFailed run

OnEscalate's actions are the escalation itself (an ApiCall that opens a ticket
in the helpdesk, a Forward to the on-call team); so one of them failing means the
escalation failed, and OnEscalateFailed's actions (say, a Reply telling the
customer a human will be in touch later) run instead of PostEscalate's. The
conversation stays open either way: escalation hands it to people, it does not
end it. The context carries `escalation` {reason, to, status, error}.

A phone pickup (`call_pickup`) records the answered call as an inbound message
of a phone conversation keyed by the provider's call id (a retried webhook is a
replay, not a second call), then runs OnPhonePickup, then OnPhonePickupSay with
the context OnPhonePickup left: look the caller up first (an ApiCall whose
responseFieldMapping writes, say, `call.greeting`), then act on it. The context
carries `call` {id, from, to, transcript}. An unknown number has no contact:
contacts here are keyed by email, and a caller's number alone does not make one.

A close (`conversation_close`) marks the conversation closed and runs OnClose;
the Close action type goes through it too.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from automations.context import addressed_to, hook_context
from automations.engine import StageHandler, hook_fire
from automations.models import HookName, HookRun, StepStatus
from config.exceptions import DomainError, InvalidTransition
from config.queue import PermanentError
from contacts import services as contact_services
from contacts.models import (
    Contact,
    Conversation,
    ConversationChannel,
    ConversationStatus,
    Direction,
    EscalationStatus,
    Message,
)
from outreach.selectors import email_identity_for
from outreach.services import action_create

logger = logging.getLogger("automations.conversations")

HANDOFF_TRANSCRIPT_MESSAGES = 20


def _last_message(conversation: Conversation) -> Message | None:
    return conversation.messages.order_by("-sent_at", "-id").first()


def _record(contact: Contact | None, type: str, actor: Actor, data: dict) -> None:
    if contact is not None:
        contact_services.event_record(contact=contact, type=type, actor=actor, data=data)


# --- Escalation ---------------------------------------------------------------------
def conversation_escalate(
    *,
    workspace: Workspace,
    actor: Actor,
    conversation: Conversation,
    reason: str = "",
    to: str = "",
) -> HookRun:
    """Start an escalation (409 when the conversation is not open, or one is under way)."""
    with transaction.atomic():
        started = contact_services.conversation_escalation_start(
            conversation=conversation, reason=reason, to=to
        )
        conversation.refresh_from_db()
        if not started:
            if conversation.status != ConversationStatus.OPEN:
                raise InvalidTransition(
                    f"A {conversation.status} conversation cannot be escalated.",
                    fields={"status": [conversation.status]},
                )
            raise InvalidTransition("An escalation of this conversation is already under way.")
        contact = conversation.contact
        context = hook_context(contact, conversation, _last_message(conversation))
        context["escalation"] = {"reason": reason, "to": to, "status": "pending", "error": ""}
        _record(
            contact,
            "conversation.escalation_requested",
            actor,
            {"conversation_id": conversation.public_id, "reason": reason[:200], "to": to},
        )
        return hook_fire(
            workspace=workspace,
            hook_name=HookName.ON_ESCALATE,
            context=context,
            contact=contact,
            conversation=conversation,
            next_stage="escalate",
        )


def _handoff(run: HookRun, conversation: Conversation, to: str) -> str:
    """The email that hands the conversation to `to`: its reason and latest messages.
    It goes out as an outreach action like everything else (no approval: it is
    addressed to a colleague, and its contact is not the customer's, so the
    customer's suppression does not hold it back)."""
    messages = list(conversation.messages.order_by("-sent_at", "-id")[:HANDOFF_TRANSCRIPT_MESSAGES])
    transcript = "\n\n".join(
        f"[{m.sent_at:%Y-%m-%d %H:%M} UTC] {m.from_address}:\n{m.body}" for m in reversed(messages)
    )
    reason = (run.context.get("escalation") or {}).get("reason", "")
    end_user = run.context.get("endUser") or {}
    body = (
        f"Escalated conversation {conversation.public_id}"
        f" with {end_user.get('email') or 'an unknown contact'}.\n"
        f"Reason: {reason or '(none given)'}\n\n{transcript}"
    )
    try:
        with transaction.atomic():
            action = action_create(
                workspace=run.workspace,
                actor=Actor.system("automation:escalation"),
                contact=None,
                type="send_email",
                identity=email_identity_for(
                    workspace=run.workspace, to_address=addressed_to(run.context)
                ),
                params={
                    "to": to,
                    "subject": f"Escalated: {conversation.subject or conversation.public_id}"[:998],
                    "body": body,
                },
                description=f"Escalation of {conversation.public_id}",
            )
    except DomainError as exc:
        raise PermanentError(f"The hand-off to {to} could not be made: {exc.message}") from None
    return action.public_id


def _finish_escalation(run: HookRun) -> HookRun | None:
    if run.conversation_id is None:
        return None
    failed = run.steps.filter(status=StepStatus.FAILED).order_by("position").first()
    error = f"{failed.definition_name}: {failed.error}" if failed else ""
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update()
            .filter(pk=run.conversation_id, escalation_status=EscalationStatus.PENDING)
            .first()
        )
        if conversation is None:
            return None  # already finished: advancing twice changes nothing
        escalation = dict(run.context.get("escalation") or {})
        handoff = ""
        if not error and escalation.get("to"):
            try:
                handoff = _handoff(run, conversation, escalation["to"])
            except PermanentError as exc:
                error = exc.message
        contact_services.conversation_escalation_finish(
            conversation=conversation, failed=bool(error), at=timezone.now()
        )
        escalation.update(
            status=conversation.escalation_status, error=error, handoffAction=handoff or None
        )
        context = {**run.context, "escalation": escalation}
        _record(
            conversation.contact,
            "conversation.escalation_failed" if error else "conversation.escalated",
            Actor.system("automation:escalation"),
            {"conversation_id": conversation.public_id, "error": error[:500], "handoff": handoff},
        )
        logger.info(
            "conversation=%s escalation=%s error=%r",
            conversation.public_id,
            conversation.escalation_status,
            error,
        )
        return hook_fire(
            workspace=run.workspace,
            hook_name=HookName.ON_ESCALATE_FAILED if error else HookName.POST_ESCALATE,
            context=context,
            channel=run.channel,
            contact=run.contact,
            conversation=conversation,
        )


# --- Close ----------------------------------------------------------------------------
def conversation_close(
    *, workspace: Workspace, actor: Actor, conversation: Conversation, context: dict | None = None
) -> HookRun:
    """Close the conversation and run OnClose (409 when it is already closed)."""
    with transaction.atomic():
        closed = contact_services.conversation_set_status(
            conversation=conversation, status=ConversationStatus.CLOSED
        )
        conversation.refresh_from_db()
        if not closed:
            raise InvalidTransition("This conversation is already closed.")
        contact = conversation.contact
        if context is None:
            context = hook_context(contact, conversation, _last_message(conversation))
        context = {**context, "ticket": {**(context.get("ticket") or {}), "status": "closed"}}
        _record(contact, "conversation.closed", actor, {"conversation_id": conversation.public_id})
        return hook_fire(
            workspace=workspace,
            hook_name=HookName.ON_CLOSE,
            context=context,
            contact=contact,
            conversation=conversation,
        )


# --- Phone pickup ---------------------------------------------------------------------
def call_pickup(
    *,
    workspace: Workspace,
    actor: Actor,
    from_number: str,
    to_number: str,
    call_id: str,
    transcript: str = "",
) -> tuple[Conversation, HookRun | None]:
    """Record an answered call and run OnPhonePickup then OnPhonePickupSay. A call id
    seen before returns its conversation and no run (the provider retried)."""

    def existing() -> Conversation | None:
        return (
            Conversation.objects.for_workspace(workspace)
            .filter(channel=ConversationChannel.PHONE, external_thread_id=call_id)
            .first()
        )

    found = existing()
    if found is not None:
        return found, None
    now = timezone.now()
    try:
        with transaction.atomic():
            contact = (
                Contact.objects.for_workspace(workspace)
                .filter(phone=from_number)
                .order_by("id")
                .first()
            )
            conversation = contact_services.conversation_open(
                workspace_id=workspace.pk,
                contact=contact,
                channel=ConversationChannel.PHONE,
                subject=f"Call from {from_number}",
                external_thread_id=call_id,
                last_message_at=now,
            )
            message = contact_services.message_record(
                conversation=conversation,
                direction=Direction.INBOUND,
                from_address=from_number,
                to_address=to_number,
                subject="Phone call",
                body=transcript,
                sent_at=now,
                provider_message_id=call_id,
            )
            _record(
                contact,
                "call.answered",
                actor,
                {"conversation_id": conversation.public_id, "call_id": call_id},
            )
            context = hook_context(contact, conversation, message)
            context["call"] = {
                "id": call_id,
                "from": from_number,
                "to": to_number,
                "transcript": transcript,
            }
            run = hook_fire(
                workspace=workspace,
                hook_name=HookName.ON_PHONE_PICKUP,
                context=context,
                contact=contact,
                conversation=conversation,
                next_stage="pickup_say",
            )
    except IntegrityError:
        # The same call reported twice at once: the other request stored it.
        found = existing()
        if found is None:
            raise
        return found, None
    return conversation, run


# --- The next stage of each chain (registered with the engine by AutomationsConfig.ready) ---
def _pickup_say(run: HookRun) -> HookRun:
    return hook_fire(
        workspace=run.workspace,
        hook_name=HookName.ON_PHONE_PICKUP_SAY,
        context=run.context,
        channel=run.channel,
        contact=run.contact,
        conversation=run.conversation,
    )


STAGE_HANDLERS: dict[str, StageHandler] = {
    "escalate": _finish_escalation,
    "pickup_say": _pickup_say,
}
