"""Signals other apps listen to, so contacts need not know about them
(automations fires OnEndUserAdd/Update/Delete hooks from these). Sent inside
the service's transaction: a listener's writes commit or roll back with it."""

from django.dispatch import Signal

# kwargs: contact, actor
contact_added = Signal()
# kwargs: contact, actor, changes ({property: {"from", "to"}})
contact_updated = Signal()
# kwargs: contact (still in the database), actor
contact_deleted = Signal()
# kwargs: contact, actor, flag ("unsubscribed", "bounced" or "do_not_contact"),
# value (set or cleared), reason. Sent by every path that changes a suppression
# flag (outreach stops the contact's cadence enrollments on it).
contact_suppression_changed = Signal()
