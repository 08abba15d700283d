"""What each definition type does when its step runs.

Everything that reaches a person becomes an outreach action (Reply awaits
approval; ReplySend, Send and Forward do not, unless the run requires approval:
`HookRun.requires_approval`, set for a run started by an API key that may not
approve), so it shares the approval queue, suppression, sending rules and the
exactly-once execution.

What a type may do decides who may start it (`POST /api/Actions/{id}/run`):
READ_ONLY_TYPES change nothing outside the run itself (DetectTopics reads the
topics into the run's context; Wait, alone in a run, does nothing); every other
type sends or changes something and needs `actions:write`: Reply, ReplySend,
Send and Forward reach a person (an outreach action, which can wait for
approval); Close, Spam and Delete change the conversation; ApiCall calls an
outside system (it cannot wait in the approval queue: a staff-configured
request, it runs with `actions:write` alone).
"""

from __future__ import annotations

from typing import Any

from accounts.actors import Actor
from automations.models import ActionDefinition, ActionDefinitionType, HookRun, HookStep
from config.exceptions import DomainError
from config.queue import PermanentError
from config.templating import TemplateError, render
from contacts.models import Conversation, ConversationStatus, Message
from outreach.models import Identity, IdentityChannel

T = ActionDefinitionType
READ_ONLY_TYPES = frozenset({T.DETECT_TOPICS, T.WAIT})


def changes_something(action_type: str) -> bool:
    """Whether running a definition of this type sends or changes anything (unknown
    types count as changing: a new type must be classified to be run read-only)."""
    return action_type not in READ_ONLY_TYPES


def _actor(definition: ActionDefinition) -> Actor:
    return Actor.system(f"automation:{definition.name}")


def _conversation(run: HookRun) -> Conversation:
    if run.conversation_id is None:
        raise PermanentError("This step needs a conversation, and the run has none.")
    return run.conversation


def email_identity_for(run: HookRun) -> Identity:
    """The mailbox the conversation was addressed to, else the workspace's first."""
    identities = Identity.objects.for_workspace(run.workspace).filter(
        channel=IdentityChannel.EMAIL, is_active=True
    )
    to = str((run.context.get("message") or {}).get("to", "")).lower()
    identity = next((i for i in identities if i.address.lower() == to), None)
    identity = identity or identities.order_by("id").first()
    if identity is None:
        raise PermanentError("No active email identity in this workspace to send from.")
    return identity


def _body(definition: ActionDefinition, run: HookRun) -> str:
    from automations.context import template_context

    if not definition.api_body_template:
        raise PermanentError(f"{definition.action_type} needs a body (apiBodyTemplate).")
    try:
        return render(definition.api_body_template, template_context(run.context))
    except TemplateError as exc:
        raise PermanentError(f"apiBodyTemplate: {exc}") from None


def _create(run: HookRun, definition: ActionDefinition, **fields: Any) -> dict:
    from outreach.services import action_create

    try:
        action = action_create(
            workspace=run.workspace,
            actor=_actor(definition),
            contact=run.contact,
            description=f"Automation: {definition.name}",
            **fields,
        )
    except DomainError as exc:
        raise PermanentError(f"{exc.message} {exc.fields or ''}".strip()) from None
    return {
        "outreach_action": action.public_id,
        "outreach_action_pk": action.pk,
        "action_status": action.status,
    }


def reply(run: HookRun, definition: ActionDefinition, *, approval: bool) -> dict:
    conversation = _conversation(run)
    if conversation.channel != "email":
        raise PermanentError(f"Replies on {conversation.channel} conversations are not supported.")
    return _create(
        run,
        definition,
        type="email_message",
        params={"thread_id": conversation.public_id, "body": _body(definition, run)},
        identity=email_identity_for(run),
        require_approval=approval or run.requires_approval,
    )


def forward(run: HookRun, definition: ActionDefinition) -> dict:
    message = run.context.get("message") or {}
    body = (
        f"---------- Forwarded message ----------\nFrom: {message.get('from', '')}\n"
        f"Subject: {message.get('subject', '')}\n\n{message.get('body', '')}"
    )
    if definition.forward_recipients:
        recipients = [r.strip() for r in definition.forward_recipients.replace(";", ",").split(",")]
        return _create(
            run,
            definition,
            type="send_email",
            params={
                "to": recipients[0],
                "cc": recipients[1:],
                "subject": f"Fwd: {message.get('subject', '')}"[:998],
                "body": body,
            },
            identity=email_identity_for(run),
            require_approval=run.requires_approval,
        )
    if definition.forward_phone_number:
        identity = (
            Identity.objects.for_workspace(run.workspace)
            .filter(channel=IdentityChannel.SMS, is_active=True)
            .order_by("id")
            .first()
        )
        if identity is None:
            raise PermanentError("No active SMS identity to forward from.")
        return _create(
            run,
            definition,
            type="send_sms",
            params={"recipient_phone": definition.forward_phone_number, "message": body[:1600]},
            identity=identity,
            require_approval=run.requires_approval,
        )
    raise PermanentError("Forward needs forwardRecipients or forwardPhoneNumber.")


def close_conversation(run: HookRun, definition: ActionDefinition) -> dict:
    from automations.conversations import conversation_close
    from config.exceptions import InvalidTransition

    conversation = _conversation(run)
    try:
        conversation_close(
            workspace=run.workspace,
            actor=_actor(definition),
            conversation=conversation,
            context=run.context,
        )
    except InvalidTransition:
        return {"conversation_status": ConversationStatus.CLOSED, "unchanged": True}
    return {"conversation_status": ConversationStatus.CLOSED}


def mark_spam(run: HookRun) -> dict:
    conversation = _conversation(run)
    Conversation.objects.filter(pk=conversation.pk).update(status=ConversationStatus.SPAM)
    return {"conversation_status": ConversationStatus.SPAM}


def delete_message(run: HookRun) -> dict:
    message_id = (run.context.get("message") or {}).get("id")
    deleted, _ = Message.objects.filter(workspace=run.workspace, pk=message_id).delete()
    return {"deleted": bool(deleted)}


def detect_topics(run: HookRun) -> dict:
    from automations.models import Topic
    from automations.topics import best_topic

    message = run.context.get("message") or {}
    text = f"{message.get('subject', '')}\n{message.get('body', '')}"
    topic = best_topic(Topic.objects.for_workspace(run.workspace).filter(is_active=True), text)
    context = dict(run.context)
    context["topic"] = {"id": topic.pk, "name": topic.name} if topic else None
    return {"topic": topic.name if topic else None, "context": context}


def api_call(run: HookRun, definition: ActionDefinition) -> dict:
    from automations.api_call import apply_mapped, run_api_call

    outcome = run_api_call(definition, run.context)
    return {
        "status": outcome["status"],
        "mapped": outcome["mapped"],
        "context": apply_mapped(run.context, outcome["mapped"]),
    }


def execute_definition(*, step: HookStep, run: HookRun, definition: ActionDefinition) -> dict:
    kind = definition.action_type
    if kind == ActionDefinitionType.WAIT:
        return {"waited_seconds": definition.wait_seconds or 0}
    if kind == ActionDefinitionType.REPLY:
        return reply(run, definition, approval=True)
    if kind in (ActionDefinitionType.REPLY_SEND, ActionDefinitionType.SEND):
        return reply(run, definition, approval=False)
    if kind == ActionDefinitionType.FORWARD:
        return forward(run, definition)
    if kind == ActionDefinitionType.CLOSE:
        return close_conversation(run, definition)
    if kind == ActionDefinitionType.SPAM:
        return mark_spam(run)
    if kind == ActionDefinitionType.DELETE:
        return delete_message(run)
    if kind == ActionDefinitionType.DETECT_TOPICS:
        return detect_topics(run)
    if kind == ActionDefinitionType.API_CALL:
        return api_call(run, definition)
    raise PermanentError(f"No executor for {kind}.")
