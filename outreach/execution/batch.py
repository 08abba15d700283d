"""A worker runs one claimed batch under its lease: start, send, finish.

1. **start**, one short transaction for the whole batch: the actions locked
   (still `processing` under this lease, the lease not expired, no attempt for
   this lease yet: one attempt per lease, so a redelivered message cannot send
   twice); actions of stopped cadence enrollments cancelled; recipients
   resolved to contacts (one query per kind of recipient), suppressed ones
   failed; sending windows read; daily limits counted once per identity, under
   that identity's row lock (identities locked in id order, so two batches
   cannot deadlock), each started action taking one send: a batch of 100 from
   one mailbox with 30 left sends 30 and defers 70 with the reason; attempts
   inserted in one INSERT, `queued` (or `running` for an executor that runs
   whole on this thread).
2. **send**, outside any transaction: executors prepare on this thread, their
   provider calls run concurrently on send threads (outreach.execution.sending).
   This thread marks each attempt `running` just before its call is made and
   records each answer as it comes (the executor's `record`, the attempt
   `completed`), a few at a time in short transactions. Executors without a
   separate provider call (the internal lifecycle change) just run here.
3. **finish**, one transaction: the actions re-locked and checked (a lease
   reclaimed during a slow send is the reclaimer's), attempts updated in one
   UPDATE, actions in one UPDATE per kind of outcome (config.bulk), the
   transitions recorded in bulk (outreach.transitions: one INSERT of timeline
   events, one of audit rows) and, through `action_finished`, cadence
   enrollments advanced in the same transaction.

The statements of start and finish do not grow with the batch (asserted in
tests/outreach/test_batch_execution.py), except what receivers of
`action_finished` do per cadence action (the enrollment's next step).

A worker killed between start and finish leaves its attempts under a lease
that expires, and at most one unrecorded call per send thread. The reclaimer
(claims.py) completes the actions whose attempt is `completed`, requeues the
`queued` ones without counting a try, and marks the `running` ones lost: their
resend carries the same idempotency key (for email the same Message-ID).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.bulk import rows_update
from config.metrics import DISPATCH_LAG_SECONDS, SEND_SECONDS, sends_count
from config.queue import ExecutionError, PermanentError, TransientError, backoff_seconds
from contacts.models import Contact
from contacts.selectors import contacts_for_recipients
from outreach.execution.claims import WORKER, worker_name
from outreach.execution.sending import Job, jobs_send
from outreach.executors import (
    ExecutionContext,
    ExecutionResult,
    Executor,
    executor_for,
    idempotency_key_for,
    is_sending,
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
from outreach.sending_rules import RULED_TYPES, Quota, next_allowed_time, quotas_for
from outreach.transitions import Change, transitions_record

logger = logging.getLogger("outreach.execution")

# The fields a finished action may have set (besides status and the lease).
_LEASE_CLEARED = {"lease_token": None, "lease_expires_at": None}


@dataclass
class Outcome:
    action_id: int
    status: str  # completed | retrying | failed | deferred | cancelled | stale
    error: str = ""
    public_id: str = ""  # the action's act_… id ("" for a stale id that no longer exists)
    type: str = ""  # the action's type ("" for a stale one): the metrics' label


@dataclass
class Item:
    """One started action of a batch, through send and finish."""

    action: Action
    attempt: ActionAttempt
    contact: Contact | None
    result: ExecutionResult | None = None
    error: ExecutionError | None = None
    # Not sent, and not counted as a try: back to scheduled in `retry_in` seconds.
    not_sent: str = ""
    retry_in: float = 0.0
    unknown: bool = False  # still in flight when the batch stopped waiting


class _Released:
    """Actions leaving `processing` in one transaction: rows, then transitions."""

    def __init__(self, now) -> None:
        self.now = now
        self.rows: list[tuple[int, dict[str, Any]]] = []
        self.changes: list[Change] = []
        self.outcomes: list[Outcome] = []

    def add(
        self, action: Action, status: str, reason: str, outcome: str, error: str = "", **fields
    ) -> None:
        from_status = action.status
        values = {"status": status, **_LEASE_CLEARED, "updated_at": self.now, **fields}
        for name, value in values.items():
            setattr(action, name, value)
        self.rows.append((action.pk, values))
        self.changes.append(Change(action, from_status, reason))
        self.outcomes.append(Outcome(action.pk, outcome, error, action.public_id, action.type))

    def save(self) -> None:
        if self.rows:
            rows_update(Action, self.rows)
            transitions_record(self.changes, actor=WORKER)


def _suppressed(action: Action, contact: Contact | None) -> bool:
    return (
        contact is not None
        and contact.is_suppressed
        and action.type != ActionType.UPDATE_LIFECYCLE_STAGE
    )


def _enrollment_stopped(action: Action) -> bool:
    # A cadence stop skips actions someone else held at that moment (SKIP
    # LOCKED); one reaching us is cancelled here, never sent. (After a
    # step_failed stop, a person retrying the failed step means to send it.)
    enrollment = action.enrollment
    return (
        enrollment is not None
        and enrollment.state == EnrollmentState.STOPPED
        and enrollment.stop_reason != StopReason.STEP_FAILED
    )


def _first_outcome(action_type: str) -> str:
    """Queued when the call will be made on a send thread (marked running just
    before it is), running when the executor runs whole on this thread."""
    try:
        return (
            AttemptOutcome.QUEUED
            if is_sending(executor_for(action_type))
            else AttemptOutcome.RUNNING
        )
    except PermanentError:  # no executor: it fails at once
        return AttemptOutcome.RUNNING


def batch_start(
    lease_token: str, action_ids: list[int], worker: str
) -> tuple[list[Item], list[Outcome]]:
    """Step 1: the items to send, and the outcomes of the actions that will not be."""
    now = timezone.now()
    released = _Released(now)
    with transaction.atomic():
        actions = list(
            Action.objects.select_for_update(of=("self",))
            .select_related("identity", "contact", "workspace", "enrollment")
            .filter(
                pk__in=action_ids,
                status=ActionStatus.PROCESSING,
                lease_token=lease_token,
                # A message that waited in the queue past its lease is the
                # reclaimer's: starting it now could race the requeued copy.
                lease_expires_at__gt=now,
            )
            .order_by("scheduled_time", "id")
        )
        for action in actions:  # an identity is of its action's workspace: one object
            if action.identity.workspace_id == action.workspace_id:
                action.identity.workspace = action.workspace
        attempted = set(
            ActionAttempt.objects.filter(
                action_id__in=[a.pk for a in actions], lease_token=lease_token
            ).values_list("action_id", flat=True)
        )
        found = {a.pk for a in actions}
        stale = [pk for pk in action_ids if pk not in found or pk in attempted]
        actions = [a for a in actions if a.pk not in attempted]

        # Recipients without a contact: matched at send time, one query per kind.
        unlinked = [a for a in actions if a.contact_id is None]
        linked_rows = []
        for action, contact in zip(
            unlinked,
            contacts_for_recipients(lookups=[(a.workspace_id, a.params) for a in unlinked]),
            strict=True,
        ):
            if contact is not None:
                action.contact = contact
                linked_rows.append((action.pk, {"contact": contact.pk, "updated_at": now}))
        if linked_rows:
            rows_update(Action, linked_rows)

        ruled = [a for a in actions if a.type in RULED_TYPES]
        limited = sorted({a.identity_id for a in ruled if a.identity.daily_limit})
        if limited:  # one lock per identity, in id order; then one count for all
            list(Identity.objects.select_for_update().filter(pk__in=limited).order_by("pk"))
        quotas: dict[int, Quota] = quotas_for({a.identity for a in ruled}, now)

        starting: list[Action] = []
        for action in actions:
            if _enrollment_stopped(action):
                reason = f"enrollment stopped: {action.enrollment.stop_reason}"
                released.add(action, ActionStatus.CANCELLED, reason, "cancelled")
                continue
            if _suppressed(action, action.contact):
                message = f"suppressed: {action.contact.suppression_reason}"
                released.add(
                    action,
                    ActionStatus.FAILED,
                    message,
                    "failed",
                    message,
                    error_message=message,
                    failure_code=FailureCode.SUPPRESSED,
                )
                continue
            quota = quotas.get(action.identity_id)
            when, why = next_allowed_time(action.identity, action.contact, action.type, now, quota)
            if when is not None:
                released.add(
                    action,
                    ActionStatus.SCHEDULED,
                    f"deferred to {when.isoformat()}: {why}",
                    "deferred",
                    why,
                    scheduled_time=when,
                )
                continue
            if quota is not None and action.type in RULED_TYPES:
                quota.take(now)
            starting.append(action)
        released.save()

        # The lease now covers the sends, not the time spent in the queue.
        renew = now + timedelta(seconds=settings.ACTION_LEASE_SECONDS)
        Action.objects.filter(
            pk__in=[a.pk for a in starting],
            lease_expires_at__lt=now + timedelta(seconds=settings.ACTION_LEASE_SECONDS / 2),
        ).update(lease_expires_at=renew)
        attempts = (
            ActionAttempt.objects.bulk_create(
                [
                    ActionAttempt(
                        workspace_id=action.workspace_id,
                        action=action,
                        identity_id=action.identity_id,
                        number=action.retry_count + 1,
                        lease_token=lease_token,
                        worker=worker,
                        started_at=now,
                        outcome=_first_outcome(action.type),
                    )
                    for action in starting
                ]
            )
            if starting
            else []
        )

    outcomes = released.outcomes
    if stale:
        public_ids = dict(Action.objects.filter(pk__in=stale).values_list("id", "public_id"))
        outcomes += [Outcome(pk, "stale", public_id=public_ids.get(pk, "")) for pk in stale]
    items = [
        Item(action=action, attempt=attempt, contact=action.contact)
        for action, attempt in zip(starting, attempts, strict=True)
    ]
    for item in items:
        lag = (item.attempt.started_at - item.action.scheduled_time).total_seconds()
        DISPATCH_LAG_SECONDS.observe(max(lag, 0.0))
    _count_sends(outcomes)
    return items, outcomes


def _count_sends(outcomes: list[Outcome]) -> None:
    """hub_sends_total, counted where outcomes are recorded (batch_start and
    batch_finish), so every path counts: the runner's, a whole batch's, one action's."""
    for (type_, status), count in Counter((o.type, o.status) for o in outcomes).items():
        sends_count(type_, status, count)


# --- step 2 ----------------------------------------------------------------------
def _context(item: Item) -> ExecutionContext:
    return ExecutionContext(
        action=item.action,
        identity=item.action.identity,
        contact=item.contact,
        attempt=item.attempt.number,
        idempotency_key=idempotency_key_for(item.action),
        recipient_resolved=True,  # batch_start matched it
    )


def _crash(item: Item, where: str, exc: Exception) -> TransientError:
    logger.exception("executor %s crashed for action %s", where, item.action.public_id)
    return TransientError(f"{type(exc).__name__}: {exc}")


def _prepare_all(executor, items: list[Item], contexts) -> list:
    """What `prepare` gives for each item (or the error it raised), batched
    through `prepare_batch` when the executor has it."""
    batch = getattr(executor, "prepare_batch", None)
    if batch is not None:
        try:
            return batch([contexts[item.action.pk] for item in items])
        except Exception as exc:  # a bug or an unmapped library error: retry, and log it
            return [_crash(item, "prepare", exc) for item in items]
    prepared = []
    for item in items:
        try:
            prepared.append(executor.prepare(contexts[item.action.pk]))
        except ExecutionError as exc:
            prepared.append(exc)
        except Exception as exc:
            prepared.append(_crash(item, "prepare", exc))
    return prepared


def batch_send(items: list[Item]) -> None:
    """Step 2: run every item's executor; results and errors land on the items."""
    contexts: dict[int, ExecutionContext] = {}
    sending: dict[int, tuple[Executor, list[Item]]] = {}
    for item in items:
        context = contexts[item.action.pk] = _context(item)
        try:
            executor: Executor = executor_for(item.action.type)
            if is_sending(executor):
                sending.setdefault(id(executor), (executor, []))[1].append(item)
                continue
            began = time.monotonic()
            try:
                item.result = executor.execute(context)
            finally:
                SEND_SECONDS.labels(type=item.action.type).observe(time.monotonic() - began)
        except ExecutionError as exc:
            item.error = exc
        except Exception as exc:  # a bug or an unmapped library error: retry, and log it
            item.error = _crash(item, "execute", exc)
    jobs: list[Job] = []
    for executor, group in sending.values():
        for item, prepared in zip(group, _prepare_all(executor, group, contexts), strict=True):
            if isinstance(prepared, ExecutionError):
                item.error = prepared
            elif isinstance(prepared, ExecutionResult):
                item.result = prepared  # nothing to send (e.g. already sent)
            else:
                jobs.append(Job(key=item, executor=executor, prepared=prepared))

    def record(answers: list[Job], starts: list[Job]) -> None:
        # One transaction a round: the answers (each sent message's record) and
        # the starts about to be made commit together, one commit instead of two.
        with transaction.atomic():
            if answers:
                _record_answers(answers, contexts)
            if starts:
                _record_starts(starts)

    stuck = jobs_send(jobs, record=record)
    for job in jobs:
        item: Item = job.key
        if job.seconds is not None:
            SEND_SECONDS.labels(type=item.action.type).observe(job.seconds)
        if job in stuck:
            item.unknown = True
        elif job.state == "skipped":
            item.not_sent, item.retry_in = job.skip_reason, job.retry_in
        elif job.error is not None:
            item.error = job.error
        elif item.result is None:  # answered, but its recording failed: once more
            _record_answers([job], contexts, commit_attempts=False)


def _record_starts(jobs: list[Job]) -> None:
    """Before their calls are made: queued → running, one UPDATE."""
    ActionAttempt.objects.filter(
        pk__in=[job.key.attempt.pk for job in jobs], outcome=AttemptOutcome.QUEUED
    ).update(outcome=AttemptOutcome.RUNNING)


def _record_answers(
    jobs: list[Job], contexts: dict[int, ExecutionContext], *, commit_attempts: bool = True
) -> None:
    """As answers come: successful sends recorded by their executors (the sent
    Message) and their attempts marked completed, in one transaction, so a
    worker dying later does not send them again (the reclaimer completes an
    action whose attempt is completed). Errors wait for the finish."""
    sent = [job for job in jobs if job.error is None]
    if not sent:
        return
    now = timezone.now()
    with transaction.atomic():
        for job in sent:
            item: Item = job.key
            try:
                item.result = job.executor.record(
                    contexts[item.action.pk], job.prepared, job.answer
                )
            except Exception:  # the message has left: failing now would send it again
                logger.exception("sent %s but could not record it", item.action.public_id)
                item.result = ExecutionResult()
        if commit_attempts:
            rows_update(
                ActionAttempt,
                [
                    (
                        job.key.attempt.pk,
                        {
                            "outcome": AttemptOutcome.COMPLETED,
                            "provider_message_id": job.key.result.provider_message_id[:255],
                            "finished_at": now,
                        },
                    )
                    for job in sent
                ],
            )


# --- step 3 ----------------------------------------------------------------------
def batch_finish(lease_token: str, items: list[Item]) -> list[Outcome]:
    """Step 3: record what the sends did, in one transaction."""
    items = [item for item in items if not item.unknown]
    if not items:
        return []
    now = timezone.now()
    released = _Released(now)
    attempt_rows: list[tuple[int, dict[str, Any]]] = []
    outcomes: list[Outcome] = []
    with transaction.atomic():
        current = {
            pk: (status, str(token) if token else "")
            for pk, status, token in Action.objects.select_for_update()
            .filter(pk__in=[item.action.pk for item in items])
            .values_list("id", "status", "lease_token")
        }
        for item in items:
            action, result, error = item.action, item.result, item.error
            status, token = current.get(action.pk, ("", ""))
            answer = result.provider_message_id[:255] if result is not None else ""
            if result is not None:
                attempt = {"outcome": AttemptOutcome.COMPLETED, "provider_message_id": answer}
                message = ""
            elif item.not_sent:
                message = f"not sent: {item.not_sent}"
                attempt = {"outcome": AttemptOutcome.TRANSIENT_ERROR, "error_message": message}
            else:
                message = str(getattr(error, "message", error))
                kind = (
                    AttemptOutcome.TRANSIENT_ERROR
                    if isinstance(error, TransientError)
                    else AttemptOutcome.PERMANENT_ERROR
                )
                attempt = {"outcome": kind, "error_message": message}
            attempt["finished_at"] = now

            if status != ActionStatus.PROCESSING or token != str(lease_token):
                # The lease was reclaimed while we were sending (a send slower than
                # ACTION_LEASE_SECONDS). The reclaimer marked the attempt lost; keep
                # that (it is why a resend may happen) and add what we learned.
                attempt["outcome"] = AttemptOutcome.LOST
                attempt["error_message"] = (
                    "Lease reclaimed during the attempt; the provider answered: "
                    + ("accepted" if result is not None else message)
                )
                attempt_rows.append((item.attempt.pk, attempt))
                if result is not None and status == ActionStatus.SCHEDULED:
                    # Recorded from scheduled: the requeued copy is not sent again.
                    action.status = status
                    _complete(released, action, answer, now)
                else:
                    outcomes.append(Outcome(action.pk, "stale", public_id=action.public_id))
                continue
            attempt_rows.append((item.attempt.pk, attempt))
            action.status = status
            if result is not None:
                _complete(released, action, answer, now)
            elif item.not_sent:
                when = now + timedelta(seconds=item.retry_in)
                released.add(
                    action,
                    ActionStatus.SCHEDULED,
                    f"{message}: again at {when.isoformat()}",
                    "deferred",
                    message,
                    scheduled_time=when,
                )
            elif isinstance(error, PermanentError):
                code = error.code or FailureCode.OTHER
                released.add(
                    action,
                    ActionStatus.FAILED,
                    message,
                    "failed",
                    message,
                    error_message=message,
                    failure_code=code,
                )
            else:
                _retry(released, action, error, message, now)
        rows_update(ActionAttempt, attempt_rows)
        released.save()
    finished = outcomes + released.outcomes
    _count_sends(finished)
    return finished


def _complete(released: _Released, action: Action, answer: str, now) -> None:
    released.add(
        action,
        ActionStatus.COMPLETED,
        "executed",
        "completed",
        executed_at=now,
        provider_message_id=answer,
        error_message="",
        failure_code="",
    )


def _retry(released: _Released, action: Action, error, message: str, now) -> None:
    retries = action.retry_count + 1
    if retries > settings.ACTION_MAX_RETRIES:
        gave_up = f"Gave up after {retries} attempts: {message}"
        released.add(
            action,
            ActionStatus.FAILED,
            gave_up,
            "failed",
            gave_up,
            retry_count=retries,
            error_message=gave_up,
            failure_code=FailureCode.GAVE_UP,
        )
        return
    delay = backoff_seconds(retries, getattr(error, "retry_after", None))
    released.add(
        action,
        ActionStatus.SCHEDULED,
        f"retry {retries} in {delay:.0f}s: {message}",
        "retrying",
        message,
        retry_count=retries,
        error_message=message,
        scheduled_time=now + timedelta(seconds=delay),
    )


# --- the whole batch -------------------------------------------------------------
def lease_token_or_none(lease_token: object) -> str | None:
    """The lease token in its canonical form, or None if it is not a UUID."""
    try:
        return str(uuid.UUID(str(lease_token)))
    except ValueError:
        return None


def actions_execute_batch(
    *, lease_token: str, action_ids: list[int], worker: str = ""
) -> list[Outcome]:
    """Run a claimed batch (see the module docstring). Idempotent per lease: a
    redelivered message finds its actions attempted or released, and does
    nothing. Outcomes come in no particular order; in-flight sends the batch
    stopped waiting for have none (their lease decides)."""
    token = lease_token_or_none(lease_token)
    if token is None:  # not a lease of ours: nothing of this batch is ours to run
        return [Outcome(pk, "stale") for pk in action_ids]
    items, outcomes = batch_start(token, list(action_ids), worker or worker_name())
    if items:
        batch_send(items)
        outcomes += batch_finish(token, items)
    return outcomes


def action_execute(*, action_id: int, lease_token: str, worker: str = "") -> Outcome:
    """Run one claimed action: a batch of one."""
    outcomes = actions_execute_batch(lease_token=lease_token, action_ids=[action_id], worker=worker)
    if not outcomes:  # its send outlived the batch: the lease decides
        return Outcome(action_id, "stale")
    return outcomes[0]
