"""The execution engine: claim due actions in batches, run each batch in a
worker (start, concurrent sends, finish), reclaim expired leases, retry with
backoff.

    beat (every 0.25 s)      dispatch_due: reclaim, claim batches
         │                   (FOR UPDATE SKIP LOCKED, one lease per batch)
         ▼
    broker: one message per batch — outreach.execute_batch(token, [ids])
         │
         ▼
    worker process           start (1 transaction)  → sends (threads)  → finish (1 transaction)

- claims.py: the dispatcher (claim, reclaim, dispatch); the backoff is the queues'
  (config.queue.backoff_seconds).
- batch.py: a worker's batch: start, send, finish; `action_execute` is a batch of one.
- sending.py: the send threads, per-provider caps, Retry-After pauses, deadlines.

Every status change is recorded, and every lease released, through
outreach.transitions (audit rows, timeline events, `action_finished`).
"""

from __future__ import annotations

from accounts.models import Workspace
from config.celery import app as celery_app
from outreach.execution.batch import (
    Outcome,
    action_execute,
    actions_execute_batch,
    batch_finish,
    batch_send,
    batch_start,
)
from outreach.execution.claims import (
    DISPATCHER,
    EXECUTE_BATCH_TASK,
    MANUAL_TYPES,
    WORKER,
    Claim,
    action_claim_due,
    action_reclaim_expired,
    actions_dispatch,
    worker_name,
)

__all__ = [
    "DISPATCHER",
    "EXECUTE_BATCH_TASK",
    "MANUAL_TYPES",
    "WORKER",
    "Claim",
    "Outcome",
    "action_claim_due",
    "action_execute",
    "action_reclaim_expired",
    "actions_dispatch",
    "actions_execute_batch",
    "actions_process_now",
    "batch_finish",
    "batch_send",
    "batch_start",
    "celery_app",
    "worker_name",
]


def actions_process_now(*, workspace: Workspace, limit: int) -> list[Outcome]:
    """`POST /v1/actions/process`: claim this workspace's due actions and execute
    them synchronously, in this request, as one batch."""
    claims = action_claim_due(limit=limit, workspace=workspace)
    if not claims:
        return []
    by_id = {claim.action_id: claim for claim in claims}
    outcomes = actions_execute_batch(lease_token=claims[0].lease_token, action_ids=list(by_id))
    order = {claim.action_id: index for index, claim in enumerate(claims)}
    outcomes.sort(key=lambda outcome: order.get(outcome.action_id, len(order)))
    for outcome in outcomes:
        outcome.public_id = outcome.public_id or by_id[outcome.action_id].public_id
    return outcomes
