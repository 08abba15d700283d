"""Claiming: the dispatcher's side of the engine.

The database is the queue. A due action is a row with `status=scheduled` and
`scheduled_time <= now`. The dispatcher claims due rows in batches (SELECT …
FOR UPDATE SKIP LOCKED on PostgreSQL; on SQLite the IMMEDIATE transaction
serialises claimers and the conditional UPDATE's row count is checked), marks
them `processing` under one lease (a token and an expiry), and after commit
hands each batch to a worker as one message: `outreach.execute_batch(token,
ids)`. Nothing scheduled waits in the broker: no ETA tasks.

The reclaimer settles actions whose lease expired (a worker killed mid-batch)
by their attempt: a recorded send completes, a call never made is requeued,
a call that may have been made is marked lost and requeued as a try.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from config.celery import app as celery_app
from config.queue import claim_due
from outreach.models import (
    Action,
    ActionAttempt,
    ActionStatus,
    ActionType,
    AttemptOutcome,
    FailureCode,
)
from outreach.transitions import Change, lease_release, transitions_record

logger = logging.getLogger("outreach.execution")

DISPATCHER = Actor.system("dispatcher")
WORKER = Actor.system("worker")
# Tasks are done by people; the dispatcher never claims them.
MANUAL_TYPES = [ActionType.TASK]
# outreach/tasks.py defines this task and imports this module, so it is sent by
# name: the engine does not import its own Celery wrappers.
EXECUTE_BATCH_TASK = "outreach.execute_batch"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- Claiming -------------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    action_id: int
    lease_token: str
    public_id: str = ""


def action_claim_due(
    *,
    limit: int,
    workspace: Workspace | None = None,
    action_ids: list[int] | None = None,
) -> list[Claim]:
    """Claim up to `limit` due actions (oldest due first) under one new lease."""
    now = timezone.now()
    with transaction.atomic():
        due = Action.objects.filter(status=ActionStatus.SCHEDULED, scheduled_time__lte=now).exclude(
            type__in=MANUAL_TYPES
        )
        if workspace is not None:
            due = due.filter(workspace=workspace)
        if action_ids is not None:
            due = due.filter(pk__in=action_ids)
        token, rows = claim_due(
            due.order_by("scheduled_time", "id"),
            limit=limit,
            waiting=ActionStatus.SCHEDULED,
            claimed=ActionStatus.PROCESSING,
            lease_expires_at=now + timedelta(seconds=settings.ACTION_LEASE_SECONDS),
            updated_at=now,
        )
        claimed = list(rows.only("id", "public_id", "type", "status", "workspace_id"))
        if not claimed:
            return []
        transitions_record(
            [Change(action, ActionStatus.SCHEDULED, "claimed") for action in claimed],
            actor=DISPATCHER,
        )
    return [Claim(action.pk, token, action.public_id) for action in claimed]


def action_reclaim_expired(*, limit: int = 500) -> int:
    """Settle actions whose lease ran out (a worker died or hung), by what their
    attempt under that lease says:
    - none, or `queued` (its call was never made): requeued, not a try;
    - `completed` (the send was recorded before the worker died): completed;
    - `running` (the call may have been made): marked lost, requeued as a try;
      the resend keeps the idempotency key (for email the Message-ID)."""
    now = timezone.now()
    reclaimed = 0
    with transaction.atomic():
        expired = Action.objects.filter(
            status=ActionStatus.PROCESSING, lease_expires_at__lt=now
        ).order_by("lease_expires_at")
        if connection.vendor == "postgresql":
            expired = expired.select_for_update(skip_locked=True, of=("self",))
        for action in expired[:limit]:
            attempt = ActionAttempt.objects.filter(
                action=action, lease_token=action.lease_token
            ).first()
            reason = "lease expired before the attempt started: requeued"
            outcome = attempt.outcome if attempt is not None else None
            if outcome == AttemptOutcome.COMPLETED:
                lease_release(
                    action,
                    status=ActionStatus.COMPLETED,
                    actor=DISPATCHER,
                    reason="lease expired after the send was recorded: completed",
                    executed_at=attempt.finished_at or now,
                    provider_message_id=attempt.provider_message_id,
                    error_message="",
                    failure_code="",
                )
                reclaimed += 1
                continue
            if outcome == AttemptOutcome.QUEUED:
                attempt.outcome = AttemptOutcome.TRANSIENT_ERROR
                attempt.finished_at = now
                attempt.error_message = "not sent: the worker stopped before making the call."
                attempt.save(update_fields=["outcome", "finished_at", "error_message"])
                reason = "lease expired before the attempt started (queued in its batch): requeued"
            elif attempt is not None:
                attempt.outcome = AttemptOutcome.LOST
                attempt.finished_at = now
                attempt.error_message = "Worker lost mid-attempt; lease reclaimed."
                attempt.save(update_fields=["outcome", "finished_at", "error_message"])
                action.retry_count += 1
                reason = "lease expired mid-attempt: requeued (resend keeps the idempotency key)"
            if action.retry_count > settings.ACTION_MAX_RETRIES:
                status = ActionStatus.FAILED
                reason = f"Gave up after {action.retry_count} attempts (lost)."
                fields = {"error_message": reason, "failure_code": FailureCode.GAVE_UP}
            else:
                status = ActionStatus.SCHEDULED
                fields = {"scheduled_time": now}
            lease_release(action, status=status, actor=DISPATCHER, reason=reason, **fields)
            reclaimed += 1
    return reclaimed


def actions_dispatch(*, max_batches: int = 20, reclaim: bool = True) -> list[Claim]:
    """One beat tick: reclaim expired leases, then claim due actions in batches
    and enqueue each batch, as one message, after its claim committed."""
    if reclaim:
        action_reclaim_expired()
    in_flight = Action.objects.filter(status=ActionStatus.PROCESSING).count()
    room = settings.DISPATCH_MAX_IN_FLIGHT - in_flight
    claims: list[Claim] = []
    for _ in range(max_batches):
        want = min(settings.DISPATCH_BATCH_SIZE, room)
        if want <= 0:
            break  # enough in flight; the rest waits in the table, not the broker
        batch = action_claim_due(limit=want)
        if batch:
            # One message per batch: its lease token and its ids.
            celery_app.send_task(
                EXECUTE_BATCH_TASK, args=(batch[0].lease_token, [c.action_id for c in batch])
            )
        claims.extend(batch)
        room -= len(batch)
        if len(batch) < want:
            break  # nothing more is due
    return claims
