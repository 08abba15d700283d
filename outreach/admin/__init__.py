"""The reviewers' admin: the approval queue, every action, and identities.

- **Approval queue** (`PendingApproval`, a proxy of `Action`): actions awaiting
  approval, oldest due first, with a preview of exactly what will be sent and
  Approve / Reject / Edit-and-approve. Decisions post to `decide_view`, which
  calls `outreach.services.action_decide` like the API does, so the admin and
  the API can never disagree; bulk approve/reject call `action_bulk_decide`.
- **Actions**: every action, read-only, with counts by status, a Stuck filter
  (processing past its lease), each action's attempts and last error, and Retry /
  Complete task buttons (services `action_retry` / `action_complete_task`).
  The index shows the approval queue, failed and stuck counts.
- **Identities**: created and edited through `identity_create` /
  `identity_update`.
- **Cadences** (with their steps inline) and **enrollments** (read-only, "Stop
  selected enrollments"), through `outreach.services.cadences` (see admin/cadences.py).

Tenancy (accounts.admin.common): a superuser sees every workspace; any other staff user only the
workspaces they are a member of (another workspace's action is not listed and
its pages answer 404). Deciding needs the `outreach.approve_action`
permission, which also lets a reviewer see the queue and the actions.
"""

from django.contrib import admin

from outreach.admin import (  # noqa: F401  (registers the admins)
    actions,
    cadences,
    identities,
    queue,
)

# The index page shows how many actions await approval (templatetags/outreach_admin.py).
admin.site.index_template = "admin/outreach_index.html"
