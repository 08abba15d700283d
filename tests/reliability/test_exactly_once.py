"""(a) 2,000 due actions, 4 workers: every action executed exactly once, counted
at a real local SMTP server (aiosmtpd).

"4 workers" here are 4 worker processes: two Celery worker nodes (separate
`celery worker` commands, so separate broker consumers) with `--concurrency=2`
prefork children each, on the 2-core CI machine. The dispatcher loop is a real
process running `actions_dispatch()` (beat's tick) every 0.2 s.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from outreach.models import ActionAttempt, ActionTransition, AttemptOutcome
from tests.reliability.helpers import (
    create_email_actions,
    deliveries,
    wait_all_completed,
    wait_deliveries_settle,
)

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

COUNT = 2000


def test_2000_due_actions_on_4_worker_processes_are_each_delivered_exactly_once(
    cluster, smtp_server, sender
):
    workspace, owner, identity = sender
    ids = create_email_actions(
        workspace=workspace, identity=identity, owner=owner, count=COUNT, tag="u"
    )
    started = time.monotonic()
    # The default 300 s lease: nothing should be reclaimed in this run.
    cluster.worker("w1", concurrency=2)
    cluster.worker("w2", concurrency=2)
    cluster.dispatcher()

    took = wait_all_completed(ids, timeout=240, cluster=cluster)
    wait_deliveries_settle(smtp_server)
    cluster.stop_all()
    print(f"\n{COUNT} actions completed in {time.monotonic() - started:.1f}s ({took:.1f}s waited)")

    from outreach.models import Action

    actions = dict(Action.objects.filter(pk__in=ids).values_list("public_id", "pk"))
    by_action, by_message_id = deliveries(smtp_server)
    assert len(smtp_server.messages) == COUNT
    assert set(by_action) == set(actions), "a delivery for an unknown action, or one missing"
    assert [a for a, n in by_action.items() if n != 1] == []
    assert len(by_message_id) == COUNT and set(by_message_id.values()) == {1}

    # One claim, one attempt, one completion per action: nothing was reclaimed or redone.
    claims = Counter(
        ActionTransition.objects.filter(action_id__in=ids, to_status="processing").values_list(
            "action_id", flat=True
        )
    )
    assert len(claims) == COUNT and set(claims.values()) == {1}
    attempts = Counter(
        ActionAttempt.objects.filter(action_id__in=ids).values_list("action_id", "outcome")
    )
    assert set(attempts) == {(pk, AttemptOutcome.COMPLETED) for pk in ids}
    assert set(attempts.values()) == {1}
    # Both worker nodes did part of the work.
    workers = set(ActionAttempt.objects.filter(action_id__in=ids).values_list("worker", flat=True))
    assert len(workers) >= 2, workers
