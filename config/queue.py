"""The claim-and-lease step shared by every table used as a queue (outreach
actions, automation steps).

`claim_due` must run inside the caller's transaction. It takes up to `limit`
rows of `due` (already filtered to due rows in `waiting` status and ordered),
with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, and moves them to
`claimed` under a new lease token. The UPDATE repeats the status condition, so
the claim stays correct without row locks (SQLite, whose IMMEDIATE
transactions serialise claimers). Returns the token and the claimed rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import connection
from django.db.models import QuerySet


def claim_due(
    due: QuerySet,
    *,
    limit: int,
    waiting: str,
    claimed: str,
    lease_expires_at: datetime,
    **also: object,
) -> tuple[str, QuerySet]:
    token = uuid.uuid4()
    model = due.model
    if connection.vendor == "postgresql":
        due = due.select_for_update(skip_locked=True, of=("self",))
    ids = list(due.values_list("id", flat=True)[:limit])
    if ids:
        model.objects.filter(pk__in=ids, status=waiting).update(
            status=claimed, lease_token=token, lease_expires_at=lease_expires_at, **also
        )
    return str(token), model.objects.filter(lease_token=token) if ids else model.objects.none()
