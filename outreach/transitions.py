"""Every change of an action's status is recorded here, and every lease is
released here.

`transition_record` must run inside the caller's transaction, after the action
is saved with its new status. It writes, in this order:
1. for a final status (completed, failed, cancelled, rejected) on an action with
   a contact, the contact's timeline event `action.<status>`;
2. the log line `action_transition action=… type=… from=… to=… actor=… reason=…`;
3. the audit row (ActionTransition);
4. the signal `outreach.signals.action_transitioned`, once per call with every
   change (webhooks' outbox rows);
5. for a final status, the signal `outreach.signals.action_finished`, once.
Receivers run synchronously in the same transaction, so what they write (a
cadence's next step, outreach/receivers.py) commits or rolls back with the
transition: a worker dying after the commit cannot lose it, and a receiver that
raises undoes the transition. The timeline event comes before any receiver
because the cadence receiver locks the contact, and lock order matters
(outreach/services/cadences.py).

`transitions_record` is the same for many actions by one actor: the timeline
events go in one INSERT and the audit rows in another (the dispatcher's claim
and the batch worker's start and finish use it). `lease_release` moves a
claimed action out of `processing` (or records what a reclaimed lease's late
answer did): status and fields set, lease cleared, saved, recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from accounts.actors import Actor
from contacts.services import events_record
from outreach.models import FINAL_STATUSES, Action, ActionTransition
from outreach.params import summary_of
from outreach.signals import action_finished, action_transitioned

logger = logging.getLogger("outreach.actions")


@dataclass(frozen=True)
class Change:
    """One action's transition. `action` already carries its new status."""

    action: Action
    from_status: str
    reason: str = ""
    decision: str = ""  # a reviewer's Decision (approve, reject, edit), else ""


def transitions_record(changes: Sequence[Change], *, actor: Actor) -> list[ActionTransition]:
    """Record transitions by one actor (see the module docstring): a timeline
    event and an `action_finished` per final status; one INSERT for the events,
    one for the audit rows."""
    if not changes:
        return []
    if not transaction.get_connection().in_atomic_block:
        # The signal's receivers must share the transition's fate.
        raise RuntimeError("transitions_record must run inside the caller's transaction.")
    events = [
        (
            change.action.contact,
            f"action.{change.action.status}",
            {
                "action_id": change.action.public_id,
                "action_type": change.action.type,
                "summary": summary_of(change.action.type, change.action.params),
                "reason": change.reason,
            },
        )
        for change in changes
        if change.action.status in FINAL_STATUSES and change.action.contact_id
    ]
    if events:
        events_record(events=events, actor=actor)
    for change in changes:
        logger.info(
            "action_transition action=%s type=%s from=%s to=%s actor=%s reason=%r",
            change.action.public_id,
            change.action.type,
            change.from_status or "-",
            change.action.status,
            actor.label,
            change.reason,
        )
    rows = [
        ActionTransition(
            workspace_id=change.action.workspace_id,
            action=change.action,
            from_status=change.from_status,
            to_status=change.action.status,
            actor=actor.user,
            actor_api_key=actor.api_key,
            actor_label=actor.label,
            reason=change.reason,
        )
        for change in changes
    ]
    # One row is a plain INSERT (as a lone create was); bulk_create of one is the same.
    rows = ActionTransition.objects.bulk_create(rows)
    action_transitioned.send(sender=Action, changes=list(changes), actor=actor)
    for change in changes:
        if change.action.status in FINAL_STATUSES:
            action_finished.send(
                sender=Action,
                action=change.action,
                from_status=change.from_status,
                actor=actor,
                reason=change.reason,
            )
    return rows


def transition_record(
    action: Action, *, from_status: str, actor: Actor, reason: str = "", decision: str = ""
) -> ActionTransition:
    """Record one transition of a saved action (see the module docstring);
    `decision` names a reviewer's decision that made it."""
    [row] = transitions_record([Change(action, from_status, reason, decision)], actor=actor)
    return row


def lease_release(
    action: Action, *, status: str, actor: Actor, reason: str, **fields: Any
) -> ActionTransition:
    """Move a locked action to `status` with `fields` set (e.g. error_message,
    failure_code, scheduled_time), its lease cleared, saved whole, and recorded
    from the status it had (`processing`, or `scheduled` when a reclaimed lease's
    send turned out to have landed)."""
    from_status = action.status
    action.status = status
    for name, value in fields.items():
        setattr(action, name, value)
    action.lease_token = None
    action.lease_expires_at = None
    action.save()
    return transition_record(action, from_status=from_status, actor=actor, reason=reason)
