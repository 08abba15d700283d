"""The outbox writers: receivers of outreach's and contacts' signals, run
synchronously in the transaction of the change (so no event without its change,
no change without its event). Connected by WebhooksConfig.ready().

Which action transition is which event (README "Webhooks"):
- creation (from ""): action.created, then action.pending_approval or
  action.scheduled for the status it was created in;
- a reviewer's decision: approve → action.approved; edit → action.edited then
  action.approved; reject → action.rejected;
- → completed / failed / cancelled / rejected: action.<status>;
- → scheduled from failed (a retry): action.scheduled;
- claims (→ processing), a retry after a transient error (processing →
  scheduled) and execute-now (scheduled → scheduled) are no events.

A batch of transitions (the batch worker finishing many actions) costs one query
when no active subscription is in their workspaces, and four reads plus two
INSERTs otherwise, whatever the batch size.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from contacts.signals import contact_added, contact_suppression_changed, contact_updated
from outreach.models import ActionStatus
from outreach.signals import action_transitioned, enrollment_stopped
from outreach.transitions import Change
from webhooks import payloads
from webhooks.services import NewEvent, events_record, subscriptions_by_workspace

_DECISION_EVENTS = {
    "approve": ("action.approved",),
    "edit": ("action.edited", "action.approved"),
    "reject": ("action.rejected",),
}
_ENTERED = {
    ActionStatus.COMPLETED: "action.completed",
    ActionStatus.FAILED: "action.failed",
    ActionStatus.CANCELLED: "action.cancelled",
    ActionStatus.REJECTED: "action.rejected",
}


def action_event_types(change: Change) -> tuple[str, ...]:
    """The events a transition is (see the module docstring)."""
    to = change.action.status
    if not change.from_status:
        pending = to == ActionStatus.PENDING_APPROVAL
        return ("action.created", "action.pending_approval" if pending else "action.scheduled")
    if change.decision:
        return _DECISION_EVENTS.get(change.decision, ())
    if to in _ENTERED:
        return (_ENTERED[to],)
    if to == ActionStatus.SCHEDULED and change.from_status == ActionStatus.FAILED:
        return ("action.scheduled",)
    if to == ActionStatus.PENDING_APPROVAL and change.from_status != to:
        return ("action.pending_approval",)
    return ()


@receiver(action_transitioned, dispatch_uid="webhooks.action_transitioned")
def on_action_transitioned(sender: Any, changes: list[Change], **kwargs: Any) -> None:
    typed = [(change, action_event_types(change)) for change in changes]
    typed = [(change, types) for change, types in typed if types]
    if not typed:
        return  # claims and requeues: no query at all
    subscriptions = subscriptions_by_workspace({c.action.workspace_id for c, _ in typed})
    typed = [(c, types) for c, types in typed if c.action.workspace_id in subscriptions]
    if not typed:
        return
    data = payloads.actions_data({c.action.pk for c, _ in typed})
    events_record(
        events=[
            NewEvent(
                workspace_id=change.action.workspace_id,
                type=event_type,
                resource=f"action:{change.action.public_id}",
                data=data[change.action.pk],
            )
            for change, types in typed
            for event_type in types
        ],
        subscriptions=subscriptions,
    )


def _contact_event(contact: Any, event_type: str) -> None:
    subscriptions = subscriptions_by_workspace({contact.workspace_id})
    if not subscriptions:
        return
    events_record(
        events=[
            NewEvent(
                workspace_id=contact.workspace_id,
                type=event_type,
                resource=f"contact:{contact.public_id}",
                data=payloads.contact_data(contact),
            )
        ],
        subscriptions=subscriptions,
    )


@receiver(contact_added, dispatch_uid="webhooks.contact_added")
def on_contact_added(sender: Any, contact: Any, **kwargs: Any) -> None:
    _contact_event(contact, "contact.created")


@receiver(contact_updated, dispatch_uid="webhooks.contact_updated")
def on_contact_updated(sender: Any, contact: Any, **kwargs: Any) -> None:
    _contact_event(contact, "contact.updated")


@receiver(contact_suppression_changed, dispatch_uid="webhooks.contact_suppression")
def on_contact_suppression(
    sender: Any, contact: Any, flag: str, value: bool, **kwargs: Any
) -> None:
    if flag == "unsubscribed" and value:
        _contact_event(contact, "contact.unsubscribed")


@receiver(enrollment_stopped, dispatch_uid="webhooks.enrollment_stopped")
def on_enrollment_stopped(sender: Any, enrollment: Any, **kwargs: Any) -> None:
    subscriptions = subscriptions_by_workspace({enrollment.workspace_id})
    if not subscriptions:
        return
    events_record(
        events=[
            NewEvent(
                workspace_id=enrollment.workspace_id,
                type="enrollment.stopped",
                resource=f"enrollment:{enrollment.pk}",
                data=payloads.enrollment_data(enrollment),
            )
        ],
        subscriptions=subscriptions,
    )
