"""Celery tasks: thin, named, idempotent; they take ids and call services."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from outreach.approval_requests import approval_digests_send
from outreach.execution import action_claim_due, action_execute, actions_dispatch
from outreach.execution.runner import batch_run


@shared_task(name="outreach.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Every 0.25 s (config/periodic_tasks.py): reclaim, claim, enqueue batches."""
    return len(actions_dispatch())


@shared_task(name="outreach.execute_batch", ignore_result=True, acks_late=True)
def execute_batch(lease_token: str, action_ids: list[int]) -> int:
    """Execute one claimed batch (its sends may still be out when this returns:
    outreach/execution/runner.py). A duplicate or late delivery of this message
    finds its actions attempted or released and does nothing."""
    started = batch_run(lease_token=lease_token, action_ids=action_ids)
    if len(action_ids) >= settings.DISPATCH_BATCH_SIZE:
        # A full batch means a backlog: claim the next batch here too, so a burst
        # is claimed by every worker at once, not only by the tick (SKIP LOCKED
        # keeps the claimers apart; DISPATCH_MAX_IN_FLIGHT still bounds them).
        actions_dispatch(max_batches=1, reclaim=False)
    return started


@shared_task(name="outreach.execute_action", ignore_result=True, acks_late=True)
def execute_action(action_id: int, lease_token: str) -> str:
    """One claimed action: what dispatchers sent before batches (kept so their
    messages still in a broker during an upgrade are executed)."""
    return action_execute(action_id=action_id, lease_token=lease_token).status


@shared_task(name="outreach.dispatch_action", ignore_result=True)
def dispatch_action(action_id: int) -> str:
    """`execute` and `direct`: claim this one action now, without waiting for
    the next beat tick, and execute it here."""
    claims = action_claim_due(limit=1, action_ids=[action_id])
    if not claims:
        return "not due"
    return action_execute(action_id=action_id, lease_token=claims[0].lease_token).status


@shared_task(name="outreach.send_approval_digests", ignore_result=True)
def send_approval_digests() -> int:
    """Every 30 s (config/periodic_tasks.py): email reviewers the actions newly
    awaiting their approval, batched (outreach/approval_requests.py). Safe to run
    twice at once: notices are unique and each reviewer's digest is made under
    the membership's row lock."""
    return approval_digests_send()
