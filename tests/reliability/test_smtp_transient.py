"""(d) An SMTP server that fails transiently, then recovers: the failed sends are
retried with backoff and every action completes, delivered exactly once.

The real SMTP server answers the first FAILURES DATA commands with
`451 4.3.0 try again later` (a 4xx: the executor raises TransientError), then
accepts everything. Workers record each failure as a `transient_error` attempt
and reschedule the action with backoff (ACTION_RETRY_BASE_SECONDS=1,
ACTION_RETRY_MAX_SECONDS=2); the dispatcher claims it again when it is due.
A 451 at DATA means the server did not take the message, so the retry is not
a duplicate.
"""

from __future__ import annotations

from collections import Counter

import pytest

from outreach.models import Action, ActionAttempt, AttemptOutcome
from tests.reliability.helpers import (
    create_email_actions,
    deliveries,
    wait_all_completed,
    wait_deliveries_settle,
)

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

COUNT = 150
FAILURES = 40


def test_transient_smtp_failures_are_retried_and_every_action_is_delivered_once(
    cluster, smtp_server, sender
):
    workspace, owner, identity = sender
    ids = create_email_actions(
        workspace=workspace, identity=identity, owner=owner, count=COUNT, tag="t"
    )
    smtp_server.fail_next(FAILURES, code=451, message="4.3.0 try again later", stage="data")
    cluster.worker("w1", concurrency=2)
    cluster.worker("w2", concurrency=2)
    cluster.dispatcher()

    took = wait_all_completed(ids, timeout=90, cluster=cluster)
    wait_deliveries_settle(smtp_server)
    cluster.stop_all()

    # Every planned failure was served, then the server recovered.
    assert smtp_server._take_failure("data") is None
    public_ids = set(Action.objects.filter(pk__in=ids).values_list("public_id", flat=True))
    by_action, by_message_id = deliveries(smtp_server)
    assert set(by_action) == public_ids
    assert [a for a, n in by_action.items() if n != 1] == [], "an action was delivered twice"
    assert len(by_message_id) == COUNT and set(by_message_id.values()) == {1}

    attempts = list(
        ActionAttempt.objects.filter(action_id__in=ids).values_list(
            "action_id", "outcome", "error_message"
        )
    )
    failed = Counter(pk for pk, outcome, _ in attempts if outcome == AttemptOutcome.TRANSIENT_ERROR)
    completed = Counter(pk for pk, outcome, _ in attempts if outcome == AttemptOutcome.COMPLETED)
    assert sum(failed.values()) == FAILURES
    assert {outcome for _, outcome, _ in attempts} == {
        AttemptOutcome.TRANSIENT_ERROR,
        AttemptOutcome.COMPLETED,
    }
    assert all("451" in message for _, outcome, message in attempts if outcome != "completed")
    assert len(completed) == COUNT and set(completed.values()) == {1}
    # retry_count counts exactly the failed attempts of each action.
    retries = dict(Action.objects.filter(pk__in=ids).values_list("pk", "retry_count"))
    assert {pk: n for pk, n in retries.items() if n} == dict(failed)
    print(
        f"\nSMTP-TRANSIENT failures={FAILURES} retried_actions={len(failed)} "
        f"max_retries_of_one={max(failed.values())} completed_in={took:.1f}s"
    )
