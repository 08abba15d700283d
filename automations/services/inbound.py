"""Inbound messages and the pipeline they start.

`inbound_message_receive` stores the message in the contact's conversation
(creating the contact when new, reopening a closed thread) and records a
`message.received` event on the contact's timeline. Then the pipeline runs,
each stage a hook run whose completion starts the next:

    PreSpam → spam check → PostSpam → topic detection → PostTopicDetection
    → the TopicActions of the detected topic

The spam check stops the pipeline when a PreSpam action marked the conversation
spam. Topic detection matches the workspace's active topics' keywords and
patterns against the subject and body (automations.topics).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from automations.context import hook_context
from automations.engine import StageHandler, hook_fire, topic_actions_run
from automations.models import Channel, HookRun, Topic
from automations.selectors import topics_active
from automations.topics import context_with_topic
from contacts import services as contact_services
from contacts.models import Conversation, ConversationStatus, Direction, Message
from outreach.models import StopReason
from outreach.services.cadences import enrollments_stop_for_contact


def inbound_message_receive(
    *,
    workspace: Workspace,
    actor: Actor,
    from_address: str,
    to_address: str,
    subject: str = "",
    body: str = "",
    thread_id: str = "",
    in_reply_to: str = "",
    provider_message_id: str = "",
    channel: Channel | None = None,
) -> tuple[Message, HookRun]:
    with transaction.atomic():
        contact = contact_services.contacts_by_email(workspace, [from_address]).first()
        if contact is None:
            contact = contact_services.contact_create(
                workspace=workspace, actor=actor, email=from_address
            )
        conversation = None
        if thread_id:
            conversation = (
                Conversation.objects.for_workspace(workspace).filter(public_id=thread_id).first()
            )
        if conversation is None and in_reply_to:
            earlier = (
                Message.objects.for_workspace(workspace)
                .filter(provider_message_id__in=[in_reply_to, in_reply_to.strip("<>")])
                .select_related("conversation")
                .first()
            )
            conversation = earlier.conversation if earlier else None
        now = timezone.now()
        if conversation is None:
            conversation = contact_services.conversation_open(
                workspace_id=workspace.pk, contact=contact, channel="email", subject=subject[:998]
            )
        contact_services.conversation_receive(conversation=conversation, at=now)
        message = contact_services.message_record(
            conversation=conversation,
            direction=Direction.INBOUND,
            from_address=from_address,
            to_address=to_address,
            subject=subject[:998],
            body=body,
            sent_at=now,
            provider_message_id=provider_message_id[:255],
        )
        contact_services.event_record(
            contact=contact,
            type="message.received",
            actor=actor,
            data={"conversation_id": conversation.public_id, "subject": subject[:200]},
        )
        # A reply ends the contact's cadences (as in Salesloft, HubSpot, Apollo).
        enrollments_stop_for_contact(
            contact=contact,
            reason=StopReason.REPLIED,
            note=f"Reply: {subject}"[:200] if subject else "Reply received.",
            actor=actor,
        )
        run = hook_fire(
            workspace=workspace,
            hook_name="PreSpam",
            context=hook_context(contact, conversation, message),
            channel=channel,
            contact=contact,
            conversation=conversation,
            next_stage="spam_check",
        )
    return message, run


# --- The pipeline's stages (registered with the engine by AutomationsConfig.ready) ---------
def _common(run: HookRun) -> dict[str, Any]:
    return {
        "workspace": run.workspace,
        "channel": run.channel,
        "contact": run.contact,
        "conversation": run.conversation,
    }


def _spam_check(run: HookRun) -> HookRun | None:
    if run.conversation and run.conversation.status == ConversationStatus.SPAM:
        return None  # spam: the pipeline stops here
    return hook_fire(hook_name="PostSpam", context=run.context, next_stage="detect", **_common(run))


def _detect(run: HookRun) -> HookRun:
    _, context = context_with_topic(run.context, topics_active(workspace=run.workspace))
    return hook_fire(
        hook_name="PostTopicDetection", context=context, next_stage="topic_actions", **_common(run)
    )


def _topic_actions(run: HookRun) -> HookRun | None:
    topic = (run.context or {}).get("topic")
    if not topic:
        return None
    found = Topic.objects.for_workspace(run.workspace).filter(pk=topic["id"]).first()
    if found is None:
        return None
    return topic_actions_run(topic=found, context=run.context, **_common(run))


STAGE_HANDLERS: dict[str, StageHandler] = {
    "spam_check": _spam_check,
    "detect": _detect,
    "topic_actions": _topic_actions,
}
