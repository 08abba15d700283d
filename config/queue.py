"""The claim-and-lease step shared by every table used as a queue (outreach
actions, automation steps).

`claim_due` must run inside the caller's transaction. It takes up to `limit`
rows of `due` (already filtered to due rows in `waiting` status and ordered),
with SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL, and moves them to
`claimed` under a new lease token. The UPDATE repeats the status condition, so
the claim stays correct without row locks (SQLite, whose IMMEDIATE
transactions serialise claimers). Returns the token and the claimed rows.

What a queue's worker says about work that did not succeed is shared too:
`TransientError` (retry later, after `backoff_seconds`) and `PermanentError`
(fail now). Outreach's executors and automations' step executors raise them;
both queues retry on the same backoff.
"""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet


class ExecutionError(Exception):
    def __init__(self, message: str, *, detail: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or {}


class TransientError(ExecutionError):
    """Retry later. `retry_after` (seconds), when the provider says, is honoured."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, detail: dict | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class PermanentError(ExecutionError):
    """Fail now; retrying cannot help. `code` is a FailureCode value (plain
    strings here: executors load before the models may)."""

    def __init__(self, message: str, *, code: str = "", detail: dict | None = None) -> None:
        super().__init__(message, detail=detail)
        self.code = code


def backoff_seconds(retry_count: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: base * 2^(n-1), capped, then scaled by
    a random factor in [0.5, 1] so retries of many rows spread out."""
    base = settings.ACTION_RETRY_BASE_SECONDS * 2 ** max(retry_count - 1, 0)
    delay = min(base, settings.ACTION_RETRY_MAX_SECONDS) * random.uniform(0.5, 1.0)
    return max(delay, retry_after or 0)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


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
