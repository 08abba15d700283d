"""Signals outreach sends, so the modules that react to an action need not be
imported by the ones that change it. Sent inside the sender's transaction: a
receiver's writes commit or roll back with the transition, and an exception in
a receiver rolls the transition back (`send`, not `send_robust`).

Receivers are connected in outreach/receivers.py.
"""

from django.dispatch import Signal

# An action reached a final status (completed, failed, cancelled, rejected).
# kwargs: action (saved, with its new status), from_status, actor, reason.
# Sent once per transition by outreach.transitions, after the audit row is written.
# outreach.services.cadences advances the action's enrollment on it.
action_finished = Signal()

# Every transition, creation included (from_status ""), once per
# `transitions_record` call, for all the actions it records.
# kwargs: changes (a list of outreach.transitions.Change: action with its new
# status, from_status, reason, decision: "approve", "reject", "edit" for a
# reviewer's decision, else ""), actor.
# Sent after the audit rows and before `action_finished`. webhooks writes its
# outbox rows on it (one batch per call: receivers must not query per action).
action_transitioned = Signal()

# An enrollment was stopped (by a person, a reply, a bounce, a failed step...).
# kwargs: enrollment (saved, state stopped, stop_reason set), actor.
# Sent by outreach.services.cadences after its open actions are cancelled.
enrollment_stopped = Signal()
