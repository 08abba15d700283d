"""The execution engine: claim, execute, retry, defer, suppress, reclaim."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts.actors import Actor
from config.queue import PermanentError, TransientError, backoff_seconds
from contacts import services as contact_services
from contacts.models import ContactEvent
from outreach import executors
from outreach.execution import (
    action_claim_due,
    action_execute,
    action_reclaim_expired,
    actions_dispatch,
)
from outreach.executors import ExecutionResult
from outreach.models import Action, ActionAttempt, ActionStatus, ActionTransition

pytestmark = pytest.mark.django_db


def run_one(action) -> str:
    [claim] = action_claim_due(limit=10, action_ids=[action.pk])
    return action_execute(action_id=claim.action_id, lease_token=claim.lease_token).status


def test_claim_takes_only_due_scheduled_actions_oldest_first(due_sms, make_action):
    later = due_sms(scheduled_time=timezone.now() + dt.timedelta(hours=1))
    second = due_sms(scheduled_time=timezone.now() - dt.timedelta(minutes=1))
    first = due_sms(scheduled_time=timezone.now() - dt.timedelta(minutes=5))
    pending = make_action()  # awaiting approval
    task = make_action(type="task", params={"title": "Call back"}, require_approval=False)
    claims = action_claim_due(limit=10)
    assert [c.action_id for c in claims] == [first.pk, second.pk]
    assert len({c.lease_token for c in claims}) == 1
    for action in (first, second):
        action.refresh_from_db()
        assert action.status == ActionStatus.PROCESSING
        assert action.lease_expires_at > timezone.now()
    for action in (later, pending, task):
        action.refresh_from_db()
        assert action.status != ActionStatus.PROCESSING
    assert action_claim_due(limit=10) == []  # nothing is claimed twice


def test_a_successful_execution_completes_the_action(scripted, due_sms):
    executor = scripted(ExecutionResult("SM123"))
    action = due_sms()
    assert run_one(action) == "completed"
    action.refresh_from_db()
    assert action.status == ActionStatus.COMPLETED
    assert action.executed_at is not None
    assert action.provider_message_id == "SM123"
    assert executor.calls[0].idempotency_key == f"action-{action.uuid}"
    attempt = ActionAttempt.objects.get(action=action)
    assert (attempt.number, attempt.outcome) == (1, "completed")
    trail = list(action.transitions.values_list("from_status", "to_status"))
    assert trail[-2:] == [("scheduled", "processing"), ("processing", "completed")]


def test_a_redelivered_task_does_not_execute_twice(scripted, due_sms):
    executor = scripted()
    action = due_sms()
    [claim] = action_claim_due(limit=1)
    assert action_execute(action_id=claim.action_id, lease_token=claim.lease_token).status == (
        "completed"
    )
    again = action_execute(action_id=claim.action_id, lease_token=claim.lease_token)
    assert again.status == "stale"
    assert len(executor.calls) == 1
    assert action_execute(action_id=action.pk, lease_token="not-the-lease").status == "stale"


def test_a_transient_error_retries_with_backoff(scripted, due_sms, settings):
    settings.ACTION_RETRY_BASE_SECONDS = 30
    scripted(TransientError("503 from provider"), ExecutionResult("SM9"))
    action = due_sms()
    before = timezone.now()
    assert run_one(action) == "retrying"
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert action.retry_count == 1
    assert action.error_message == "503 from provider"
    assert before + dt.timedelta(seconds=14) < action.scheduled_time
    assert action.scheduled_time < before + dt.timedelta(seconds=31)
    Action.objects.filter(pk=action.pk).update(scheduled_time=timezone.now())
    assert run_one(action) == "completed"
    action.refresh_from_db()
    assert action.error_message == ""
    assert list(action.attempts.values_list("outcome", flat=True)) == [
        "transient_error",
        "completed",
    ]


def test_retry_after_from_the_provider_is_honoured(scripted, due_sms, settings):
    settings.ACTION_RETRY_BASE_SECONDS = 1
    scripted(TransientError("429", retry_after=120))
    action = due_sms()
    run_one(action)
    action.refresh_from_db()
    assert action.scheduled_time >= timezone.now() + dt.timedelta(seconds=115)


def test_it_gives_up_after_the_retry_limit(scripted, due_sms, settings):
    settings.ACTION_MAX_RETRIES = 2
    scripted(*[TransientError("timeout")] * 3)
    action = due_sms()
    for expected in ("retrying", "retrying", "failed"):
        Action.objects.filter(pk=action.pk).update(scheduled_time=timezone.now())
        assert run_one(action) == expected
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED
    assert action.error_message == "Gave up after 3 attempts: timeout"


def test_a_permanent_error_fails_at_once(scripted, due_sms):
    scripted(PermanentError("21211: The 'To' number is not a valid phone number."))
    action = due_sms()
    assert run_one(action) == "failed"
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED
    assert action.retry_count == 0
    assert "21211" in action.error_message


def test_an_unexpected_exception_is_retried_not_lost(scripted, due_sms):
    scripted(ValueError("bug"))
    action = due_sms()
    assert run_one(action) == "retrying"
    action.refresh_from_db()
    assert action.error_message == "ValueError: bug"


@pytest.mark.parametrize("flag", ["unsubscribed", "bounced", "do_not_contact"])
def test_a_suppressed_contact_fails_the_action_without_sending(
    scripted, due_sms, make_contact, flag
):
    executor = scripted()
    contact = make_contact("john@example.com", phone="+14155551234")
    contact_services.contact_suppress(
        contact=contact, flag=flag, reason="asked", actor=Actor.system("t")
    )
    action = due_sms()
    assert action.contact == contact
    assert run_one(action) == "failed"
    action.refresh_from_db()
    assert action.status == ActionStatus.FAILED
    assert action.error_message.startswith(f"suppressed: {flag.replace('_', ' ')}")
    assert executor.calls == []
    assert ContactEvent.objects.filter(contact=contact, type="action.failed").exists()


def test_a_contact_created_after_the_action_is_still_checked(scripted, due_sms, make_contact):
    executor = scripted()
    action = due_sms()
    assert action.contact is None
    contact = make_contact("john@example.com", phone="+14155551234")
    contact_services.contact_suppress(
        contact=contact, flag="unsubscribed", reason="x", actor=Actor.system("t")
    )
    assert run_one(action) == "failed"
    assert executor.calls == []


def test_outside_the_window_it_is_deferred_not_failed(scripted, due_sms, sms_identity):
    executor = scripted()
    now = timezone.now().astimezone(dt.UTC)
    # A one-hour window every day, in UTC, that does not hold now: one that closed
    # an hour ago, or (when that one would straddle midnight) one that opens in an hour.
    opens = (now - dt.timedelta(hours=2)).time().replace(microsecond=0, second=0)
    closes = (now - dt.timedelta(hours=1)).time().replace(microsecond=0, second=0)
    if opens > closes:
        opens = (now + dt.timedelta(hours=1)).time().replace(microsecond=0, second=0)
        closes = (now + dt.timedelta(hours=2)).time().replace(microsecond=0, second=0)
    sms_identity.window_start, sms_identity.window_end = opens, closes
    sms_identity.window_days = list(range(7))
    sms_identity.timezone = "UTC"
    sms_identity.save()
    action = due_sms()
    assert run_one(action) == "deferred"
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    # The window's next opening: today's if it is still ahead (a window that closed
    # an hour ago at 00:30 opened yesterday at 22:30 and opens again today), else
    # tomorrow's.
    expected = dt.datetime.combine(now.date(), opens, tzinfo=dt.UTC)
    if expected <= now:
        expected += dt.timedelta(days=1)
    assert action.scheduled_time == expected
    assert executor.calls == []
    assert "outside the sending window" in action.transitions.last().reason


def test_the_window_is_read_in_the_contacts_timezone(due_sms, make_contact, sms_identity):
    from outreach.sending_rules import next_window_opening

    sms_identity.window_start, sms_identity.window_end = dt.time(9), dt.time(17)
    sms_identity.window_days = [0, 1, 2, 3, 4]
    sms_identity.timezone = "UTC"
    contact = make_contact("a@example.com", timezone="America/New_York")
    monday_noon_utc = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)  # 07:00 in New York
    assert next_window_opening(sms_identity, None, monday_noon_utc) is None
    opening = next_window_opening(sms_identity, contact, monday_noon_utc)
    assert opening == dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # 09:00 New York
    saturday = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    assert next_window_opening(sms_identity, None, saturday) == dt.datetime(
        2026, 11, 30, 9, 0, tzinfo=dt.UTC
    )


def test_over_the_daily_limit_it_is_deferred_until_the_oldest_send_ages_out(
    scripted, due_sms, sms_identity
):
    scripted()
    sms_identity.daily_limit = 2
    sms_identity.save()
    first, second, third = due_sms(), due_sms(), due_sms()
    assert run_one(first) == "completed"
    assert run_one(second) == "completed"
    assert run_one(third) == "deferred"
    third.refresh_from_db()
    oldest = ActionAttempt.objects.get(action=first).started_at
    assert third.scheduled_time == oldest + dt.timedelta(hours=24)
    assert "daily limit of 2 reached" in third.transitions.last().reason


def test_an_expired_lease_is_reclaimed(scripted, due_sms):
    scripted()
    never_started, died = due_sms(), due_sms()
    claims = action_claim_due(limit=10)
    # One worker died mid-send: its attempt is running under the lease.
    from outreach.execution import batch_start

    batch_start(claims[0].lease_token, [died.pk], "w1")
    Action.objects.filter(pk__in=[never_started.pk, died.pk]).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert action_reclaim_expired() == 2
    never_started.refresh_from_db()
    died.refresh_from_db()
    assert never_started.status == died.status == ActionStatus.SCHEDULED
    assert never_started.retry_count == 0
    assert died.retry_count == 1
    assert ActionAttempt.objects.get(action=died).outcome == "lost"
    # The late worker's result cannot double-complete or resend.
    assert action_execute(action_id=died.pk, lease_token=claims[0].lease_token).status == "stale"


def test_the_lifecycle_executor_changes_the_stage(make_action, make_contact, email_identity):
    contact = make_contact("jane@example.com", lifecyclestage="lead")
    action = make_action(
        type="update_lifecycle_stage",
        params={"contact_id": contact.public_id, "stage": "customer", "reason": "Signed"},
        require_approval=False,
    )
    assert run_one(action) == "completed"
    contact.refresh_from_db()
    assert contact.lifecyclestage == "customer"
    event = ContactEvent.objects.get(contact=contact, type="contact.lifecycle_changed")
    assert event.data["action_id"] == action.public_id


def test_backoff_grows_and_is_capped(settings):
    settings.ACTION_RETRY_BASE_SECONDS = 10
    settings.ACTION_RETRY_MAX_SECONDS = 60
    assert 5 <= backoff_seconds(1) <= 10
    assert 20 <= backoff_seconds(3) <= 40
    assert 30 <= backoff_seconds(10) <= 60
    assert backoff_seconds(1, retry_after=500) == 500


def test_dispatch_claims_in_batches_and_enqueues(scripted, due_sms, settings, monkeypatch):
    settings.DISPATCH_BATCH_SIZE = 2
    sent = []
    from outreach import execution, tasks

    def send_task(name, args):
        assert name == tasks.execute_batch.name
        sent.append(args)

    monkeypatch.setattr(execution.celery_app, "send_task", send_task)
    made = [due_sms() for _ in range(5)]
    claims = actions_dispatch()
    assert sorted(c.action_id for c in claims) == sorted(a.pk for a in made)
    # One message per claimed batch: its lease token and its ids.
    assert [len(ids) for _, ids in sent] == [2, 2, 1]
    assert sorted(pk for _, ids in sent for pk in ids) == sorted(a.pk for a in made)
    tokens = {c.action_id: c.lease_token for c in claims}
    assert all(tokens[pk] == token for token, ids in sent for pk in ids)
    assert len({token for token, _ in sent}) == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL")
def test_concurrent_claimers_never_claim_the_same_action(due_sms):
    made = {due_sms().pk for _ in range(60)}
    claimed: list[list[int]] = []
    barrier = threading.Barrier(4)

    def claim():
        try:
            barrier.wait()
            mine = []
            while batch := action_claim_due(limit=5):
                mine.extend(c.action_id for c in batch)
            claimed.append(mine)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [a for mine in claimed for a in mine]
    assert sorted(everything) == sorted(made)  # each exactly once
    assert ActionTransition.objects.filter(to_status="processing").count() == 60


def test_dispatch_keeps_at_most_the_in_flight_cap_processing(
    scripted, due_sms, settings, monkeypatch
):
    settings.DISPATCH_BATCH_SIZE = 2
    settings.DISPATCH_MAX_IN_FLIGHT = 3
    from outreach import execution

    monkeypatch.setattr(execution.celery_app, "send_task", lambda name, args: None)
    for _ in range(5):
        due_sms()
    assert len(actions_dispatch()) == 3
    assert Action.objects.filter(status=ActionStatus.PROCESSING).count() == 3
    assert actions_dispatch() == []  # still full: nothing more is claimed


def test_a_task_that_waited_past_its_lease_does_not_start(scripted, due_sms):
    executor = scripted()
    action = due_sms()
    [claim] = action_claim_due(limit=1)
    Action.objects.filter(pk=action.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert action_execute(action_id=action.pk, lease_token=claim.lease_token).status == "stale"
    assert executor.calls == []
    assert action_reclaim_expired() == 1
    assert run_one(action) == "completed"
    assert len(executor.calls) == 1


def test_starting_an_attempt_renews_the_lease(scripted, due_sms, settings):
    from outreach.execution import batch_start

    scripted()
    action = due_sms()
    [claim] = action_claim_due(limit=1)
    Action.objects.filter(pk=action.pk).update(
        lease_expires_at=timezone.now() + dt.timedelta(seconds=5)
    )
    batch_start(claim.lease_token, [action.pk], "w1")
    action.refresh_from_db()
    assert action.lease_expires_at > timezone.now() + dt.timedelta(
        seconds=settings.ACTION_LEASE_SECONDS - 5
    )


def test_a_send_slower_than_its_lease_stays_marked_lost(due_sms, monkeypatch):
    action = due_sms()

    class SlowThenReclaimed:
        types = ("send_sms",)

        def execute(self, context):
            Action.objects.filter(pk=action.pk).update(
                lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
            )
            action_reclaim_expired()
            return ExecutionResult("SM-late")

    monkeypatch.setitem(executors.REGISTRY, "send_sms", SlowThenReclaimed())
    assert run_one(action) == "completed"
    action.refresh_from_db()
    assert action.status == ActionStatus.COMPLETED  # requeued copy not sent again
    attempt = ActionAttempt.objects.get(action=action)
    assert attempt.outcome == "lost"
    assert "accepted" in attempt.error_message
