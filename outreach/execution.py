"""The execution engine's services: claim due actions, execute them, reclaim
expired leases, retry with backoff.

The database is the queue. A due action is a row with `status=scheduled` and
`scheduled_time <= now`. The dispatcher claims due rows (SELECT … FOR UPDATE
SKIP LOCKED on PostgreSQL; on SQLite the IMMEDIATE transaction serialises
claimers and the conditional UPDATE's row count is checked), marks them
`processing` with a lease (a token and an expiry), and hands their ids to
workers after commit. Nothing scheduled waits in the broker: no ETA tasks.

Every status change is recorded, and every lease released, through
outreach.transitions (the audit row, the timeline event, `action_finished`).

A worker runs one action under one lease in three steps:
1. start (short transaction): the lease must still be ours and have no attempt
   yet (one attempt per lease, so a redelivered task cannot send twice); an
   action of a stopped cadence enrollment is cancelled; suppression fails the
   action; a closed sending window or a reached daily limit defers it;
   otherwise an ActionAttempt is recorded as running;
2. the provider call, outside any transaction, with the action's idempotency key;
3. finish (short transaction): completed, retried with backoff, or failed.

A worker killed in step 2 leaves a running attempt under an expired lease; the
reclaimer marks it lost and requeues the action, and the resend carries the
same idempotency key (for email the same Message-ID) so providers and
receivers can drop the duplicate.
"""

from __future__ import annotations

import logging
import os
import random
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
from contacts.selectors import contact_for_recipient
from outreach.executors import (
    ExecutionContext,
    ExecutionResult,
    PermanentError,
    TransientError,
    executor_for,
    idempotency_key_for,
)
from outreach.models import (
    Action,
    ActionAttempt,
    ActionStatus,
    ActionType,
    AttemptOutcome,
    EnrollmentState,
    FailureCode,
    Identity,
    StopReason,
)
from outreach.sending_rules import next_allowed_time
from outreach.transitions import Change, lease_release, transitions_record

logger = logging.getLogger("outreach.execution")

DISPATCHER = Actor.system("dispatcher")
WORKER = Actor.system("worker")
# Tasks are done by people; the dispatcher never claims them.
MANUAL_TYPES = [ActionType.TASK]
# outreach/tasks.py defines this task and imports this module, so it is sent by
# name: the engine does not import its own Celery wrappers.
EXECUTE_TASK = "outreach.execute_action"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff_seconds(retry_count: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter: base * 2^(n-1), capped, then scaled by
    a random factor in [0.5, 1] so retries of many actions spread out."""
    base = settings.ACTION_RETRY_BASE_SECONDS * 2 ** max(retry_count - 1, 0)
    delay = min(base, settings.ACTION_RETRY_MAX_SECONDS) * random.uniform(0.5, 1.0)
    return max(delay, retry_after or 0)


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
    """Requeue actions whose lease ran out. An attempt that was running is
    marked lost and counts as a try; a claim that never started does not."""
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
            fields: dict = {}
            if attempt is not None:
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


def actions_dispatch(*, max_batches: int = 20) -> list[Claim]:
    """One beat tick: reclaim expired leases, then claim due actions in batches
    and enqueue them after commit."""
    action_reclaim_expired()
    in_flight = Action.objects.filter(status=ActionStatus.PROCESSING).count()
    room = settings.DISPATCH_MAX_IN_FLIGHT - in_flight
    claims: list[Claim] = []
    for _ in range(max_batches):
        want = min(settings.DISPATCH_BATCH_SIZE, room)
        if want <= 0:
            break  # enough in flight; the rest waits in the table, not the broker
        batch = action_claim_due(limit=want)
        for claim in batch:
            celery_app.send_task(EXECUTE_TASK, args=(claim.action_id, claim.lease_token))
        claims.extend(batch)
        room -= len(batch)
        if len(batch) < want:
            break  # nothing more is due
    return claims


# --- Executing -------------------------------------------------------------------
@dataclass
class Outcome:
    action_id: int
    status: str  # completed | retrying | failed | deferred | cancelled | stale
    error: str = ""
    public_id: str = ""  # the action's act_… id ("" for a stale id that no longer exists)


def _start(action_id: int, lease_token: str, worker: str):
    """Step 1. Returns (action, attempt, contact) to execute, or an Outcome."""
    now = timezone.now()
    with transaction.atomic():
        action = (
            Action.objects.select_for_update(of=("self",))
            .select_related("identity", "contact", "workspace", "enrollment")
            .filter(pk=action_id)
            .first()
        )
        if (
            action is None
            or action.status != ActionStatus.PROCESSING
            or str(action.lease_token) != str(lease_token)
            # A task that waited in the queue past its lease is the reclaimer's:
            # starting it now could race the requeued copy.
            or action.lease_expires_at is None
            or action.lease_expires_at <= now
            or ActionAttempt.objects.filter(action_id=action_id, lease_token=lease_token).exists()
        ):
            return Outcome(action_id, "stale", public_id=action.public_id if action else "")
        enrollment = action.enrollment
        if (
            enrollment is not None
            and enrollment.state == EnrollmentState.STOPPED
            and enrollment.stop_reason != StopReason.STEP_FAILED
        ):
            # A cadence stop skips actions someone else held at that moment (SKIP
            # LOCKED); one reaching us is cancelled here, never sent. (After a
            # step_failed stop, a person retrying the failed step means to send it.)
            lease_release(
                action,
                status=ActionStatus.CANCELLED,
                actor=WORKER,
                reason=f"enrollment stopped: {enrollment.stop_reason}",
            )
            return Outcome(action_id, "cancelled", public_id=action.public_id)
        contact = action.contact
        if contact is None:
            contact = contact_for_recipient(workspace=action.workspace, params=action.params)
            if contact is not None:
                action.contact = contact
                action.save(update_fields=["contact", "updated_at"])
        if (
            contact is not None
            and contact.is_suppressed
            and action.type != ActionType.UPDATE_LIFECYCLE_STAGE
        ):
            _finish_failed(
                action, f"suppressed: {contact.suppression_reason}", FailureCode.SUPPRESSED
            )
            return Outcome(action_id, "failed", action.error_message, action.public_id)
        # Lock the identity so concurrent workers count its daily limit one at a time.
        identity = Identity.objects.select_for_update().get(pk=action.identity_id)
        when, why = next_allowed_time(identity, contact, action.type, now)
        if when is not None:
            lease_release(
                action,
                status=ActionStatus.SCHEDULED,
                actor=WORKER,
                reason=f"deferred to {when.isoformat()}: {why}",
                scheduled_time=when,
            )
            return Outcome(action_id, "deferred", why, action.public_id)
        # The lease now covers the send itself, not the time spent in the queue.
        action.lease_expires_at = now + timedelta(seconds=settings.ACTION_LEASE_SECONDS)
        action.save(update_fields=["lease_expires_at"])
        attempt = ActionAttempt.objects.create(
            workspace_id=action.workspace_id,
            action=action,
            identity=identity,
            number=action.retry_count + 1,
            lease_token=lease_token,
            worker=worker,
            started_at=now,
        )
    return action, attempt, contact


def _finish_failed(action: Action, message: str, code: str) -> None:
    lease_release(
        action,
        status=ActionStatus.FAILED,
        actor=WORKER,
        reason=message,
        error_message=message,
        failure_code=code,
    )


def action_execute(*, action_id: int, lease_token: str, worker: str = "") -> Outcome:
    """Run one claimed action through its executor. Idempotent per lease."""
    started = _start(action_id, lease_token, worker or worker_name())
    if isinstance(started, Outcome):
        return started
    action, attempt, contact = started
    context = ExecutionContext(
        action=action,
        identity=action.identity,
        contact=contact,
        attempt=attempt.number,
        idempotency_key=idempotency_key_for(action),
    )
    result: ExecutionResult | None = None
    error: Exception | None = None
    try:
        result = executor_for(action.type).execute(context)
    except (TransientError, PermanentError) as exc:
        error = exc
    except Exception as exc:  # a bug or an unmapped library error: retry, and log it
        logger.exception("executor crashed for action %s", action.public_id)
        error = TransientError(f"{type(exc).__name__}: {exc}")
    return _finish(action_id, lease_token, attempt, result, error)


def _finish(action_id, lease_token, attempt, result, error) -> Outcome:
    now = timezone.now()
    with transaction.atomic():
        action = (
            Action.objects.select_for_update(of=("self",))
            .select_related("contact")
            .get(pk=action_id)
        )
        attempt.finished_at = now
        if result is not None:
            attempt.outcome = AttemptOutcome.COMPLETED
            attempt.provider_message_id = result.provider_message_id[:255]
        else:
            attempt.outcome = (
                AttemptOutcome.TRANSIENT_ERROR
                if isinstance(error, TransientError)
                else AttemptOutcome.PERMANENT_ERROR
            )
            attempt.error_message = str(getattr(error, "message", error))
        ours = action.status == ActionStatus.PROCESSING and str(action.lease_token) == str(
            lease_token
        )
        if not ours:
            # The lease was reclaimed while we were sending (a send slower than
            # ACTION_LEASE_SECONDS). The reclaimer marked the attempt lost; keep
            # that (it is why a resend may happen) and add what we learned.
            attempt.outcome = AttemptOutcome.LOST
            attempt.error_message = (
                f"Lease reclaimed during the attempt; the provider answered: "
                f"{'accepted' if result is not None else attempt.error_message}"
            )
            attempt.save()
            if result is not None and action.status == ActionStatus.SCHEDULED:
                _complete(action, result)  # recorded from scheduled: the requeued copy
                return Outcome(action_id, "completed", public_id=action.public_id)
            return Outcome(action_id, "stale", public_id=action.public_id)
        attempt.save()
        public_id = action.public_id
        if result is not None:
            _complete(action, result)
            return Outcome(action_id, "completed", public_id=public_id)
        message = attempt.error_message
        if isinstance(error, PermanentError):
            _finish_failed(action, message, error.code or FailureCode.OTHER)
            return Outcome(action_id, "failed", message, public_id)
        action.retry_count += 1
        action.error_message = message
        if action.retry_count > settings.ACTION_MAX_RETRIES:
            _finish_failed(
                action,
                f"Gave up after {action.retry_count} attempts: {message}",
                FailureCode.GAVE_UP,
            )
            return Outcome(action_id, "failed", action.error_message, public_id)
        delay = backoff_seconds(action.retry_count, getattr(error, "retry_after", None))
        lease_release(
            action,
            status=ActionStatus.SCHEDULED,
            actor=WORKER,
            reason=f"retry {action.retry_count} in {delay:.0f}s: {message}",
            scheduled_time=now + timedelta(seconds=delay),
        )
        return Outcome(action_id, "retrying", message, public_id)


def _complete(action: Action, result: ExecutionResult) -> None:
    lease_release(
        action,
        status=ActionStatus.COMPLETED,
        actor=WORKER,
        reason="executed",
        executed_at=timezone.now(),
        provider_message_id=result.provider_message_id[:255],
        error_message="",
        failure_code="",
    )


def actions_process_now(*, workspace: Workspace, limit: int) -> list[Outcome]:
    """`POST /v1/actions/process`: claim this workspace's due actions and execute
    them synchronously, in this request."""
    outcomes = []
    for claim in action_claim_due(limit=limit, workspace=workspace):
        outcome = action_execute(action_id=claim.action_id, lease_token=claim.lease_token)
        outcome.public_id = outcome.public_id or claim.public_id
        outcomes.append(outcome)
    return outcomes
