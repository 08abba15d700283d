"""(f) A worker SIGKILLed in the middle of one concurrent batch of 500 sends to a
slow SMTP server: every action ends completed, and a message reaches the server
twice only for an attempt recorded `lost`, never more often than there were
sends in flight.

The real SMTP server (aiosmtpd, tests/smtp_server.py) takes 200 ms to answer
every DATA command, however many sessions send at once. The dispatcher claims
the 500 due actions as one batch (DISPATCH_BATCH_SIZE=500) under one lease
(ACTION_LEASE_SECONDS=30, the minimum). The victim, worker node w1 with two
prefork processes and WORKER_SEND_CONCURRENCY=32 each, starts sending it; once
about a third has arrived at the server, w1's whole process group gets SIGKILL:
no shutdown code, no ack, no finish step. Then a fresh node w2 starts. Nothing
happens until the lease expires; the dispatcher then reclaims the batch (an
attempt left `running` is marked `lost`, a claim never started is requeued) and
w2 sends what is left.

What a resend may duplicate: a message the server accepted whose result the
victim never recorded. The resend carries the same Message-ID (the action's
idempotency key, outreach/executors/email.py `message_id_for`), so receivers
can drop it; that is the engine's documented at-least-once edge. The engine's
promise is that only sends in flight at the kill are in doubt: sends the
victim had finished must be known as sent, not redone. So the test asserts
that every action completed, once, with one completed attempt; that a
Message-ID delivered twice belongs to an action with a `lost` attempt (and
that only the victim's attempts were lost); and that there are no more second
deliveries than the sends that can be in flight at once:
WORKER_SEND_CONCURRENCY x the victim's processes.

Behaviour only (database rows, what the server received): the per-action
engine passes it too, slowly (500 x 200 ms on two processes, plus the lease).
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from django.utils import timezone

from outreach.models import Action, ActionAttempt, AttemptOutcome
from tests.reliability.helpers import (
    assert_one_completed_attempt_each,
    create_email_actions,
    deliveries,
    message_ids_by_action,
    wait_all_completed,
    wait_deliveries_settle,
    wait_until,
)

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

COUNT = 500
SMTP_SECONDS_PER_MESSAGE = 0.2
SEND_CONCURRENCY = 32
VICTIM_PROCESSES = 2
LEASE_SECONDS = 30
# The most sends the victim can have in flight at the kill, so the most
# messages whose delivery it cannot have recorded.
IN_FLIGHT_BOUND = SEND_CONCURRENCY * VICTIM_PROCESSES


def test_a_worker_killed_mid_batch_resends_only_its_in_flight_sends(cluster, smtp_server, sender):
    workspace, owner, identity = sender
    ids = create_email_actions(
        workspace=workspace, identity=identity, owner=owner, count=COUNT, tag="mb"
    )
    smtp_server.delay_every(SMTP_SECONDS_PER_MESSAGE)
    cluster.overrides.update(
        {
            "ACTION_LEASE_SECONDS": str(LEASE_SECONDS),
            "DISPATCH_BATCH_SIZE": str(COUNT),
            "WORKER_SEND_CONCURRENCY": str(SEND_CONCURRENCY),
        }
    )
    victim = cluster.worker("w1", concurrency=VICTIM_PROCESSES)
    cluster.dispatcher()

    wait_until(
        lambda: len(smtp_server.messages) >= COUNT // 3,
        timeout=120,
        what=f"{COUNT // 3} deliveries by w1",
        interval=0.02,
        check=cluster.check_alive,
    )
    victim.kill()
    # Every attempt the victim made started before this; w2 starts after it.
    killed_at = timezone.now()
    killed_clock = time.monotonic()
    delivered_at_kill = len(smtp_server.messages)
    cluster.worker("w2", concurrency=2)

    took = wait_all_completed(ids, timeout=LEASE_SECONDS + 90, cluster=cluster)
    wait_deliveries_settle(smtp_server)
    cluster.stop_all()

    # The kill landed mid-batch: some messages had arrived, some had not.
    assert 0 < delivered_at_kill < COUNT, delivered_at_kill

    assert Action.objects.filter(pk__in=ids).exclude(status="completed").count() == 0
    public_ids = dict(Action.objects.filter(pk__in=ids).values_list("pk", "public_id"))
    by_action, by_message_id = deliveries(smtp_server)
    assert set(by_action) == set(public_ids.values()), "an action was never delivered"
    assert len(by_message_id) == COUNT
    mids = message_ids_by_action(smtp_server)
    assert {a for a, found in mids.items() if len(found) != 1} == set(), "a resend changed its id"

    lost = list(
        ActionAttempt.objects.filter(action_id__in=ids, outcome=AttemptOutcome.LOST).values_list(
            "action_id", "started_at"
        )
    )
    lost_public = {public_ids[pk] for pk, _ in lost}
    assert all(started < killed_at for _, started in lost), "an attempt of w2 was marked lost"
    assert max(Counter(pk for pk, _ in lost).values(), default=0) <= 1
    duplicated = {public_id for public_id, n in by_action.items() if n > 1}
    assert duplicated <= lost_public, (
        f"delivered twice without a lost attempt: {sorted(duplicated - lost_public)}"
    )
    assert max(by_message_id.values()) <= 2
    second_deliveries = sum(by_message_id.values()) - len(by_message_id)
    assert second_deliveries == len(duplicated)
    assert second_deliveries <= IN_FLIGHT_BOUND, (
        f"{second_deliveries} messages delivered twice, more than the {IN_FLIGHT_BOUND} sends "
        f"that can be in flight (WORKER_SEND_CONCURRENCY={SEND_CONCURRENCY} x "
        f"{VICTIM_PROCESSES} processes): sends the victim finished were redone"
    )

    # One completed attempt per action, nothing left running.
    assert len(ids) == COUNT
    unstarted = assert_one_completed_attempt_each(ids)
    print(
        f"\nKILL-MID-BATCH delivered_at_kill={delivered_at_kill}/{COUNT} lost={len(lost)} "
        f"second_deliveries={second_deliveries} (bound {IN_FLIGHT_BOUND}) "
        f"requeued_unstarted={unstarted} peak_sends_in_flight={smtp_server.peak_in_flight} "
        f"recovered_in={took:.1f}s (lease {LEASE_SECONDS}s) "
        f"total_since_kill={time.monotonic() - killed_clock:.1f}s"
    )
