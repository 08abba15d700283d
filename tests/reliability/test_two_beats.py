"""(e) Two `celery beat` processes at once: only the holder of the leader lock
sends `outreach.dispatch_due`, and no action is claimed twice.

Both beats run the repository's scheduler (hub.beat.SingleBeatScheduler,
CELERY_BEAT_SCHEDULER) against the same database; a worker executes the
dispatch ticks and the actions. Wave 1: the two beats start together; exactly
one takes the lock and sends, the other sends nothing. Then the leader is
SIGKILLed (no chance to release the lock): the follower takes over once the
lock expires (hub.beat.LOCK_TTL) and wave 2 is dispatched by it. For both
waves every action has exactly one `scheduled → processing` transition, one
completed attempt and one delivery.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from config.periodic_tasks import sync_periodic_tasks
from hub.beat import LOCK_NAME, LOCK_TTL
from hub.models import SchedulerLock
from outreach.models import Action, ActionAttempt, ActionTransition
from tests.reliability.helpers import (
    create_email_actions,
    deliveries,
    wait_all_completed,
    wait_deliveries_settle,
    wait_until,
)

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

WAVE_1 = 200
WAVE_2 = 100
SENDING = r"Sending due task outreach\.dispatch_due"
TOOK = r"took the leader lock"


def test_two_beats_one_leader_no_action_claimed_twice_and_failover(cluster, smtp_server, sender):
    workspace, owner, identity = sender
    sync_periodic_tasks()
    SchedulerLock.objects.all().delete()
    wave_1 = create_email_actions(
        workspace=workspace, identity=identity, owner=owner, count=WAVE_1, tag="b1-"
    )
    cluster.worker("w1", concurrency=2)
    beats = [cluster.beat("beat1"), cluster.beat("beat2")]

    wait_all_completed(wave_1, timeout=90, cluster=cluster)
    # Both beats have been ticking for a while by now.
    sending = {beat.name: beat.count(SENDING) for beat in beats}
    took = {beat.name: beat.count(TOOK) for beat in beats}
    leaders = [beat for beat in beats if sending[beat.name]]
    assert len(leaders) == 1, f"exactly one beat should send: {sending}"
    leader = leaders[0]
    (follower,) = [beat for beat in beats if beat is not leader]
    assert took == {leader.name: 1, follower.name: 0}, took
    holder = SchedulerLock.objects.get(name=LOCK_NAME).holder
    assert holder.split(":")[1] == str(leader.pid), (holder, leader.pid)

    # The leader dies without releasing the lock; the follower takes over.
    leader.kill()
    killed_at = time.monotonic()
    wave_2 = create_email_actions(
        workspace=workspace, identity=identity, owner=owner, count=WAVE_2, tag="b2-"
    )
    wait_until(
        lambda: follower.count(TOOK),
        timeout=LOCK_TTL.total_seconds() + 15,
        what="the follower to take the expired lock",
        check=cluster.check_alive,
    )
    takeover = time.monotonic() - killed_at
    wait_all_completed(wave_2, timeout=60, cluster=cluster)
    wait_deliveries_settle(smtp_server)
    cluster.stop_all()

    assert follower.count(SENDING) > 0
    assert SchedulerLock.objects.filter(name=LOCK_NAME).count() <= 1  # released on stop
    ids = wave_1 + wave_2
    count = WAVE_1 + WAVE_2
    claims = Counter(
        ActionTransition.objects.filter(action_id__in=ids, to_status="processing").values_list(
            "action_id", flat=True
        )
    )
    assert len(claims) == count and set(claims.values()) == {1}, "an action was claimed twice"
    outcomes = Counter(
        ActionAttempt.objects.filter(action_id__in=ids).values_list("action_id", "outcome")
    )
    assert set(outcomes) == {(pk, "completed") for pk in ids} and set(outcomes.values()) == {1}
    public_ids = set(Action.objects.filter(pk__in=ids).values_list("public_id", flat=True))
    by_action, by_message_id = deliveries(smtp_server)
    assert set(by_action) == public_ids and set(by_action.values()) == {1}
    assert len(by_message_id) == count and set(by_message_id.values()) == {1}
    print(
        f"\nTWO-BEATS leader={leader.name} sends={sending} follower_took_over_in={takeover:.1f}s "
        f"(lock TTL {LOCK_TTL.total_seconds():.0f}s)"
    )
