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
