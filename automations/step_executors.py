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

STEP_EXECUTORS (definition type → executor) is what AutomationsConfig.ready
registers with the engine (automations.engine), which does not import this module.
"""

from __future__ import annotations

from typing import Any

from accounts.actors import Actor
from automations import selectors
from automations.api_call import apply_mapped, run_api_call
from automations.context import addressed_to, template_context
from automations.engine import StepExecutor
from automations.models import ActionDefinition, ActionDefinitionType, HookRun
from automations.services.conversations import conversation_close
from automations.topics import context_with_topic
from config.exceptions import DomainError, InvalidTransition
from config.queue import PermanentError
from config.templating import TemplateError, render
from contacts.models import Conversation, ConversationStatus
from contacts.services import conversation_set_status, message_delete
from outreach.models import Identity, IdentityChannel
from outreach.selectors import email_identity_for
from outreach.services import action_create

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


def _sender(run: HookRun) -> Identity:
    return email_identity_for(workspace=run.workspace, to_address=addressed_to(run.context))


def _body(definition: ActionDefinition, run: HookRun) -> str:
    if not definition.api_body_template:
        raise PermanentError(f"{definition.action_type} needs a body (apiBodyTemplate).")
    try:
        return render(definition.api_body_template, template_context(run.context))
    except TemplateError as exc:
        raise PermanentError(f"apiBodyTemplate: {exc}") from None


def _create(run: HookRun, definition: ActionDefinition, **fields: Any) -> dict:
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


def _reply(run: HookRun, definition: ActionDefinition, *, approval: bool) -> dict:
    conversation = _conversation(run)
    if conversation.channel != "email":
        raise PermanentError(f"Replies on {conversation.channel} conversations are not supported.")
    return _create(
        run,
        definition,
        type="email_message",
        params={"thread_id": conversation.public_id, "body": _body(definition, run)},
        identity=_sender(run),
        require_approval=approval or run.requires_approval,
    )


def reply(run: HookRun, definition: ActionDefinition) -> dict:
    """Reply: drafted for approval."""
    return _reply(run, definition, approval=True)


def reply_send(run: HookRun, definition: ActionDefinition) -> dict:
    """ReplySend and Send: sent without approval (unless the run requires it)."""
    return _reply(run, definition, approval=False)


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
            identity=_sender(run),
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


def close(run: HookRun, definition: ActionDefinition) -> dict:
    """Close: conversation_close with the run's context; already closed is no failure."""
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


def mark_spam(run: HookRun, definition: ActionDefinition) -> dict:
    conversation_set_status(conversation=_conversation(run), status=ConversationStatus.SPAM)
    return {"conversation_status": ConversationStatus.SPAM}


def delete_message(run: HookRun, definition: ActionDefinition) -> dict:
    message_id = (run.context.get("message") or {}).get("id")
    return {"deleted": message_delete(workspace_id=run.workspace_id, message_id=message_id)}


def topic_detection(run: HookRun, definition: ActionDefinition) -> dict:
    topic, context = context_with_topic(
        run.context, selectors.topics_active(workspace=run.workspace)
    )
    return {"topic": topic.name if topic else None, "context": context}


def api_call(run: HookRun, definition: ActionDefinition) -> dict:
    outcome = run_api_call(definition, run.context)
    return {
        "status": outcome["status"],
        "mapped": outcome["mapped"],
        "context": apply_mapped(run.context, outcome["mapped"]),
    }


def wait(run: HookRun, definition: ActionDefinition) -> dict:
    """Wait does nothing itself: the engine delays the later steps."""
    return {"waited_seconds": definition.wait_seconds or 0}


STEP_EXECUTORS: dict[str, StepExecutor] = {
    T.WAIT: wait,
    T.REPLY: reply,
    T.REPLY_SEND: reply_send,
    T.SEND: reply_send,
    T.FORWARD: forward,
    T.CLOSE: close,
    T.SPAM: mark_spam,
    T.DELETE: delete_message,
    T.DETECT_TOPICS: topic_detection,
    T.API_CALL: api_call,
}
