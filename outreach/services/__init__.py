"""Every change outreach makes goes through here.

- identities.py: the senders (identity_create, identity_update, identity_deactivate);
- actions.py: actions and their decisions (create, approve/reject/edit, bulk,
  cancel, execute now, complete a task, retry);
- approvals.py: decisions made through approval request emails' one-click links
  (the digests themselves are outreach.approval_requests', run by a periodic task);
- cadences.py: cadences, steps and enrollments (create, update, stop, advance).

What the engine itself writes while it executes (claims, attempts, the batch's
start and finish) is outreach.execution's; every transition is recorded by
outreach.transitions. This package's functions are the ones views, the admin,
tasks and commands call.
"""

from outreach.services.actions import (
    BULK_LIMIT,
    EXECUTE_APPROVAL_COMMENT,
    BulkEdit,
    BulkOutcome,
    ExecuteOutcome,
    action_bulk_decide,
    action_bulk_edit,
    action_cancel,
    action_complete_task,
    action_create,
    action_decide,
    action_execute_now,
    action_retry,
)
from outreach.services.approvals import (
    LinkUsed,
    NotAReviewer,
    approval_link_decide,
)
from outreach.services.identities import (
    IDENTITY_EDITABLE,
    identity_clean_address,
    identity_create,
    identity_deactivate,
    identity_update,
)

__all__ = [
    "BULK_LIMIT",
    "EXECUTE_APPROVAL_COMMENT",
    "IDENTITY_EDITABLE",
    "BulkEdit",
    "BulkOutcome",
    "ExecuteOutcome",
    "LinkUsed",
    "NotAReviewer",
    "action_bulk_decide",
    "action_bulk_edit",
    "action_cancel",
    "action_complete_task",
    "action_create",
    "action_decide",
    "action_execute_now",
    "action_retry",
    "approval_link_decide",
    "identity_clean_address",
    "identity_create",
    "identity_deactivate",
    "identity_update",
]
