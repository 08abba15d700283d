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

from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from automations.context import hook_context
from automations.engine import fire_hook, run_topic_actions
from automations.models import Channel, HookRun
from contacts import services as contact_services
from contacts.models import Conversation, ConversationStatus, Direction, Message
from outreach.cadences import enrollments_stop_for_contact
from outreach.models import StopReason

STAGES = ("spam_check", "post_spam", "detect", "topic_actions")
# Stages of the escalation and phone-pickup chains (automations.conversations).
CONVERSATION_STAGES = ("escalate", "pickup_say")


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
            conversation = Conversation.objects.create(
                workspace=workspace, contact=contact, channel="email", subject=subject[:998]
            )
        conversation.last_message_at = now
        if conversation.status == ConversationStatus.CLOSED:
            conversation.status = ConversationStatus.OPEN
        conversation.save(update_fields=["last_message_at", "status", "updated_at"])
        message = Message.objects.create(
            workspace=workspace,
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
        run = fire_hook(
            workspace=workspace,
            hook_name="PreSpam",
            context=hook_context(contact, conversation, message),
            channel=channel,
            contact=contact,
            conversation=conversation,
            next_stage="spam_check",
        )
    return message, run


def advance_pipeline(*, run_id: int) -> HookRun | None:
    """Start the stage after `run`'s (called once the run completes)."""
    from automations.step_executors import detect_topics

    run = HookRun.objects.select_related("conversation", "workspace").get(pk=run_id)
    stage, common = (
        run.next_stage,
        {
            "workspace": run.workspace,
            "channel": run.channel,
            "contact": run.contact,
            "conversation": run.conversation,
        },
    )
    if stage in CONVERSATION_STAGES:
        from automations.conversations import advance_conversation_stage

        return advance_conversation_stage(run)
    if stage == "spam_check":
        if run.conversation and run.conversation.status == ConversationStatus.SPAM:
            return None  # spam: the pipeline stops here
        return fire_hook(hook_name="PostSpam", context=run.context, next_stage="detect", **common)
    if stage == "detect":
        detected = detect_topics(run)
        return fire_hook(
            hook_name="PostTopicDetection",
            context=detected["context"],
            next_stage="topic_actions",
            **common,
        )
    if stage == "topic_actions":
        topic = (run.context or {}).get("topic")
        if not topic:
            return None
        from automations.models import Topic

        found = Topic.objects.for_workspace(run.workspace).filter(pk=topic["id"]).first()
        if found is None:
            return None
        return run_topic_actions(topic=found, context=run.context, **common)
    return None
