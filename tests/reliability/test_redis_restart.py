"""(c) Redis restarted mid-run: nothing lost, nothing delivered twice.

The broker here is a private redis-server on a free port (no persistence), so
other users of the machine's Redis are not disturbed. Once about a third of the
actions has been delivered it is shut down with SHUTDOWN NOSAVE, which drops
every queued and unacked task message, and started again on the same port.
The workers reconnect. While Redis is down, LATE more actions fall due: the
dispatcher claims them but its ticks fail to publish their tasks (the claims
are committed, the messages never reach the broker).
Every action whose message vanished is still `processing` under a lease in the
database, so once ACTION_LEASE_SECONDS (30) pass the dispatcher reclaims and
requeues it. Sends in flight during the restart finish and are recorded in the
database as usual; only their acks are lost, so nothing is sent twice.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from outreach.models import Action, ActionAttempt, ActionTransition, AttemptOutcome
from tests.reliability.helpers import (
    create_email_actions,
    deliveries,
    wait_all_completed,
    wait_deliveries_settle,
    wait_until,
)

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

COUNT = 300
LATE = 50
LEASE_SECONDS = 30
DOWN_SECONDS = 2


def test_a_redis_restart_mid_run_loses_nothing_and_sends_nothing_twice(
    needs_redis_server, cluster, smtp_server, sender
):
    workspace, owner, identity = sender
    ids = create_email_actions(
        workspace=workspace, identity=identity, owner=owner, count=COUNT, tag="r"
    )
    redis_server = cluster.private_redis()
    cluster.broker_url = redis_server.url(0)
    cluster.overrides["ACTION_LEASE_SECONDS"] = str(LEASE_SECONDS)
    cluster.restart_workers = True  # as a process manager would (see check_alive)
    cluster.worker("w1", concurrency=2)
    cluster.worker("w2", concurrency=2)
    dispatcher = cluster.dispatcher()

    wait_until(
        lambda: len(smtp_server.messages) >= COUNT // 3,
        timeout=90,
        what=f"{COUNT // 3} deliveries",
        interval=0.05,
        check=cluster.check_alive,
    )
    redis_server.shutdown()
    delivered_at_restart = len(smtp_server.messages)
    # Actions that fall due while Redis is down: the dispatcher claims them and
    # fails to publish their tasks.
    ids += create_email_actions(
        workspace=workspace, identity=identity, owner=owner, count=LATE, tag="late"
    )
    wait_until(
        lambda: dispatcher.count("dispatch failed"),
        timeout=20,
        what="a dispatch tick failing while Redis is down",
    )
    time.sleep(DOWN_SECONDS)
    redis_server.start()

    took = wait_all_completed(ids, timeout=LEASE_SECONDS + 70, cluster=cluster)
    wait_deliveries_settle(smtp_server)
    cluster.stop_all()

    assert Action.objects.filter(pk__in=ids).exclude(status="completed").count() == 0
    public_ids = set(Action.objects.filter(pk__in=ids).values_list("public_id", flat=True))
    by_action, by_message_id = deliveries(smtp_server)
    assert set(by_action) == public_ids, "an action was never delivered"
    assert [a for a, n in by_action.items() if n != 1] == [], "an action was delivered twice"
    assert len(by_message_id) == COUNT + LATE and set(by_message_id.values()) == {1}
    completed = Counter(
        ActionAttempt.objects.filter(
            action_id__in=ids, outcome=AttemptOutcome.COMPLETED
        ).values_list("action_id", flat=True)
    )
    assert len(completed) == COUNT + LATE and set(completed.values()) == {1}
    assert (
        not ActionAttempt.objects.filter(action_id__in=ids)
        .exclude(outcome=AttemptOutcome.COMPLETED)
        .exists()
    ), "no attempt should be lost or failed: workers kept running"
    requeued = ActionTransition.objects.filter(
        action_id__in=ids, reason__startswith="lease expired"
    ).count()
    print(
        f"\nREDIS-RESTART worker_restarts={len(cluster.restarts)} "
        f"delivered_at_restart={delivered_at_restart}/{COUNT}+{LATE} "
        f"requeued_by_lease={requeued} dispatch_failures="
        f"{dispatcher.count('dispatch failed')} recovered_in={took:.1f}s"
    )
