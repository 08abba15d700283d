"""What the `outreach.execute_batch` task runs (outreach/execution/runner.py):
the batch starts on the task's thread and its sends and finish run on a runner
thread, so the task returns while the calls are out."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client import REGISTRY

from outreach import executors
from outreach.execution import action_claim_due
from outreach.execution.runner import batch_run, runner_stop
from outreach.executors import ExecutionResult, Prepared
from outreach.models import Action, ActionAttempt, ActionStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def stopped_runner():
    yield
    runner_stop()  # its threads' database connections, before the test database goes


class Held:
    """A sending executor whose calls wait until the test lets them go."""

    types = ("send_email",)

    def __init__(self) -> None:
        self.release = threading.Event()

    def execute(self, context):
        return executors.execute_whole(self, context)

    def prepare(self, context):
        return Prepared(provider="held", session_key=1, payload=context.action.pk)

    def open_session(self, prepared):
        release = self.release

        class Session:
            def send(self, pk):
                release.wait(10)
                return pk

            def close(self):
                pass

        return Session()

    def record(self, context, prepared, answer):
        return ExecutionResult(f"held-{answer}")


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_task_returns_once_its_batch_started_and_the_runner_finishes_it(
    make_action, settings, monkeypatch
):
    settings.WORKER_BATCHES_IN_FLIGHT = 2
    held = Held()
    monkeypatch.setitem(executors.REGISTRY, "send_email", held)
    actions = [make_action(require_approval=False) for _ in range(3)]
    claims = action_claim_due(limit=3, action_ids=[a.pk for a in actions])
    started = batch_run(lease_token=claims[0].lease_token, action_ids=[c.action_id for c in claims])
    assert started == 3
    # Returned with the calls still out: the attempts are recorded, nothing finished.
    assert ActionAttempt.objects.filter(action__in=actions).count() == 3
    assert set(
        Action.objects.filter(pk__in=[a.pk for a in actions]).values_list("status", flat=True)
    ) == {ActionStatus.PROCESSING}
    held.release.set()
    wait_for(
        lambda: (
            Action.objects.filter(
                pk__in=[a.pk for a in actions], status=ActionStatus.COMPLETED
            ).count()
            == 3
        )
    )


def test_one_batch_at_a_time_runs_it_whole_in_the_task(make_action, settings, monkeypatch):
    settings.WORKER_BATCHES_IN_FLIGHT = 1
    held = Held()
    held.release.set()
    monkeypatch.setitem(executors.REGISTRY, "send_email", held)
    action = make_action(require_approval=False)
    [claim] = action_claim_due(limit=1, action_ids=[action.pk])
    assert batch_run(lease_token=claim.lease_token, action_ids=[action.pk]) == 1
    action.refresh_from_db()
    assert action.status == ActionStatus.COMPLETED


def test_a_batch_not_under_our_lease_starts_nothing(make_action, settings):
    settings.WORKER_BATCHES_IN_FLIGHT = 2
    action = make_action(require_approval=False)
    action_claim_due(limit=1, action_ids=[action.pk])
    assert batch_run(lease_token="not-a-lease", action_ids=[action.pk]) == 0
    other = "00000000-0000-0000-0000-000000000000"
    assert batch_run(lease_token=other, action_ids=[action.pk]) == 0
    assert not ActionAttempt.objects.filter(action=action).exists()


def test_the_runner_path_counts_its_sends_and_their_lag(make_action, settings, monkeypatch):
    """hub_sends_total and hub_dispatch_lag_seconds move for a batch whose finish
    runs on the runner thread (the worker's usual path), not only for a whole batch."""
    settings.WORKER_BATCHES_IN_FLIGHT = 2
    held = Held()
    held.release.set()
    monkeypatch.setitem(executors.REGISTRY, "send_email", held)

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    sent = {"type": "send_email", "outcome": "completed"}
    sends, lags = sample("hub_sends_total", **sent), sample("hub_dispatch_lag_seconds_count")
    actions = [make_action(require_approval=False) for _ in range(2)]
    claims = action_claim_due(limit=2, action_ids=[a.pk for a in actions])
    assert batch_run(lease_token=claims[0].lease_token, action_ids=[c.action_id for c in claims])
    wait_for(lambda: sample("hub_sends_total", **sent) == sends + 2)
    assert sample("hub_dispatch_lag_seconds_count") == lags + 2
