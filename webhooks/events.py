"""The event types a webhook subscription can ask for (README "Webhooks")."""

from __future__ import annotations

ACTION_EVENTS = (
    "action.created",
    "action.pending_approval",
    "action.approved",
    "action.rejected",
    "action.edited",
    "action.scheduled",
    "action.completed",
    "action.failed",
    "action.cancelled",
)
CONTACT_EVENTS = ("contact.created", "contact.updated", "contact.unsubscribed")
ENROLLMENT_EVENTS = ("enrollment.stopped",)
TEST_EVENT = "webhook.test"
EVENT_TYPES = (*ACTION_EVENTS, *CONTACT_EVENTS, *ENROLLMENT_EVENTS, TEST_EVENT)
ALL = "*"


def wants(subscribed: list[str], event_type: str) -> bool:
    """Whether a subscription's `events` list takes `event_type` ("*" takes all)."""
    return ALL in subscribed or event_type in subscribed
