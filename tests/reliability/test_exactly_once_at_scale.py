"""(g) 10,000 due send_email actions on 4 worker processes at full send
concurrency: each message arrives at a real SMTP server exactly once.

"4 worker processes" are two Celery worker nodes (separate `celery worker`
commands, so two broker consumers competing for the batches) with
`--concurrency=2` prefork processes each, every process with
WORKER_SEND_CONCURRENCY=64 send threads (the default): up to 256 sends in flight. The
real SMTP server (aiosmtpd, tests/smtp_server.py) answers every message in
100 ms, so sends overlap and the concurrency is used, not just allowed. The
actions come round-robin from 10 identities (no contacts), so a batch holds
several mailboxes and one SMTP session per identity chunk. The dispatcher loop
is a real process running `actions_dispatch()` (beat's tick) every 0.2 s; the
default 300 s lease means nothing should be reclaimed.

Asserted, from what the server received and the database: every Message-ID
exactly once (10,000 of them, one per action); every action completed, with
exactly one completed attempt; no attempt lost (nothing was killed, so a lease
running out mid-send would be a bug and a possible duplicate). A send the
engine chose not to make (a batch's send deadline on a loaded machine) is a
`transient_error` attempt and a later claim; that is no duplicate, so it is
counted and printed, not failed. So are the throughput and the peak number of
sends the server saw in flight.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from outreach.models import Action, ActionAttempt, ActionTransition, AttemptOutcome
from tests.reliability.helpers import (
    create_email_actions,
    deliveries,
    email_identities,
    wait_all_completed,
    wait_deliveries_settle,
)

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

COUNT = 10_000
IDENTITIES = 10
SMTP_SECONDS_PER_MESSAGE = 0.1
SEND_CONCURRENCY = 64  # the default (config/settings.py): "full send concurrency"


def test_10000_actions_on_4_processes_at_full_send_concurrency_arrive_exactly_once(
    cluster, smtp_server, sender
):
    workspace, owner, _identity = sender
    identities = email_identities(workspace=workspace, owner=owner, count=IDENTITIES, tag="scale")
    ids = create_email_actions(
        workspace=workspace, identities=identities, owner=owner, count=COUNT, tag="x"
    )
    smtp_server.delay_every(SMTP_SECONDS_PER_MESSAGE)
    cluster.overrides["WORKER_SEND_CONCURRENCY"] = str(SEND_CONCURRENCY)
    started = time.monotonic()
    cluster.worker("w1", concurrency=2)
    cluster.worker("w2", concurrency=2)
    cluster.dispatcher()

    # A generous ceiling (the per-action engine needs minutes), but a run in
    # which nothing completes for a minute fails at once.
    took = wait_all_completed(ids, timeout=1200, stall=60, cluster=cluster)
    wait_deliveries_settle(smtp_server)
    cluster.stop_all()
    elapsed = time.monotonic() - started

    public_ids = set(Action.objects.filter(pk__in=ids).values_list("public_id", flat=True))
    by_action, by_message_id = deliveries(smtp_server)
    assert len(smtp_server.messages) == COUNT
    assert len(by_message_id) == COUNT and set(by_message_id.values()) == {1}, (
        f"delivered twice: {sorted(m for m, n in by_message_id.items() if n > 1)[:10]}"
    )
    assert set(by_action) == public_ids, "a delivery for an unknown action, or one missing"
    assert set(by_action.values()) == {1}

    assert Action.objects.filter(pk__in=ids).exclude(status="completed").count() == 0
    attempts = list(
        ActionAttempt.objects.filter(action_id__in=ids).values_list("action_id", "outcome")
    )
    outcomes = Counter(outcome for _, outcome in attempts)
    completed = Counter(pk for pk, outcome in attempts if outcome == AttemptOutcome.COMPLETED)
    assert len(completed) == COUNT and set(completed.values()) == {1}, outcomes
    assert outcomes[AttemptOutcome.LOST] == 0, outcomes
    assert outcomes[AttemptOutcome.RUNNING] == 0, outcomes
    claims = ActionTransition.objects.filter(action_id__in=ids, to_status="processing").count()
    workers = set(ActionAttempt.objects.filter(action_id__in=ids).values_list("worker", flat=True))
    assert len(workers) >= 2, workers
    print(
        f"\nEXACTLY-ONCE-AT-SCALE {COUNT} actions completed in {took:.1f}s "
        f"({COUNT / took:.0f}/s; {elapsed:.1f}s with worker start-up and settling), "
        f"peak_sends_in_flight={smtp_server.peak_in_flight}, workers={len(workers)}, "
        f"attempts={dict(outcomes)}, claims={claims}"
    )
