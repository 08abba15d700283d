"""A claimed batch end to end: constant statements, daily limits counted once
per identity, concurrent sends, one SMTP session per identity, provider caps,
Retry-After pauses and deadlines (outreach/execution/batch.py, sending.py)."""

from __future__ import annotations

import smtplib
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.queue import TransientError
from contacts.models import ContactEvent
from outreach import executors
from outreach.execution import (
    action_claim_due,
    action_reclaim_expired,
    actions_execute_batch,
    batch_finish,
    batch_send,
    batch_start,
)
from outreach.executors import ExecutionResult, Prepared
from outreach.models import Action, ActionAttempt, ActionStatus, AttemptOutcome
from tests.smtp_server import running_smtp_server

pytestmark = pytest.mark.django_db


class Wire:
    """A SendingExecutor for send_email whose provider call is `on_send(pk)`, made
    on the engine's send threads; it records what it sent, and touches no database."""

    types = ("send_email",)

    def __init__(self, provider: str, on_send=None) -> None:
        self.provider = provider
        self.on_send = on_send or (lambda pk: None)
        self.sent: list[int] = []
        self.lock = threading.Lock()

    def execute(self, context):
        return executors.execute_whole(self, context)

    def prepare(self, context):
        return Prepared(
            provider=self.provider,
            session_key=context.identity.pk,
            payload=context.action.pk,
        )

    def open_session(self, prepared):
        wire = self

        class Session:
            def send(self, pk):
                wire.on_send(pk)
                with wire.lock:
                    wire.sent.append(pk)
                return pk

            def close(self):
                pass

        return Session()

    def record(self, context, prepared, answer):
        return ExecutionResult(f"wire-{answer}")


@pytest.fixture
def wire(monkeypatch):
    def install(provider: str, on_send=None) -> Wire:
        executor = Wire(provider, on_send)
        monkeypatch.setitem(executors.REGISTRY, "send_email", executor)
        return executor

    return install


@pytest.fixture
def due_emails(make_action, email_identity):
    def make(n: int, *, identity=None, to=lambda i: f"person{i}@example.com"):
        return [
            make_action(
                identity=identity or email_identity,
                params={"to": to(i), "subject": "Hello", "body": "Hi there"},
                require_approval=False,
            )
            for i in range(n)
        ]

    return make


def run_batch(actions):
    claims = action_claim_due(limit=len(actions), action_ids=[a.pk for a in actions])
    assert len(claims) == len(actions)
    return actions_execute_batch(
        lease_token=claims[0].lease_token, action_ids=[c.action_id for c in claims]
    )


def statuses(actions) -> dict[str, int]:
    found: dict[str, int] = {}
    for status in Action.objects.filter(pk__in=[a.pk for a in actions]).values_list(
        "status", flat=True
    ):
        found[status] = found.get(status, 0) + 1
    return found


def test_the_statements_of_a_batch_do_not_grow_with_its_size(
    wire, due_emails, make_contact, email_identity, django_assert_num_queries
):
    """Recipients matched to contacts at send time (timeline events written),
    an identity with a daily limit (locked and counted): a batch of 1 and a
    batch of 100 start in the same statements and finish in the same
    statements. (Between the two, answers are recorded as they arrive, one
    UPDATE per group of answers: see test_answers_are_recorded_as_they_arrive.)"""
    wire("wire-statements")
    email_identity.daily_limit = 1000
    email_identity.save()
    # Django's SQLite backend splits an INSERT past 999 variables (an attempt
    # row has 12 columns), so there the big batch is 80; PostgreSQL runs 100.
    size = 100 if connection.vendor == "postgresql" else 80
    for i in range(size + 1):
        make_contact(f"person{i}@example.com")
    one, many = due_emails(1), due_emails(size, to=lambda i: f"person{i + 1}@example.com")

    def run(actions, start_queries=None, finish_queries=None):
        claims = action_claim_due(limit=len(actions), action_ids=[a.pk for a in actions])
        token, ids = claims[0].lease_token, [c.action_id for c in claims]
        with CaptureQueriesContext(connection) as start:
            if start_queries is None:
                items, _ = batch_start(token, ids, "w1")
            else:
                with django_assert_num_queries(start_queries):
                    items, _ = batch_start(token, ids, "w1")
        batch_send(items)
        with CaptureQueriesContext(connection) as finish:
            if finish_queries is None:
                outcomes = batch_finish(token, items)
            else:
                with django_assert_num_queries(finish_queries):
                    outcomes = batch_finish(token, items)
        return len(start.captured_queries), len(finish.captured_queries), outcomes

    start_one, finish_one, _ = run(one)
    _, _, outcomes = run(many, start_one, finish_one)
    assert [o.status for o in outcomes] == ["completed"] * size
    assert statuses(many) == {ActionStatus.COMPLETED: size}
    linked = {a.contact_id for a in Action.objects.filter(pk__in=[a.pk for a in many])}
    assert len(linked) == size and None not in linked  # each its own contact
    assert ContactEvent.objects.filter(type="action.completed").count() == size + 1


def test_answers_are_recorded_as_they_arrive(wire, due_emails, settings, monkeypatch):
    """A send's attempt is `queued` until its call is made, `running` while it
    is, and `completed` once it answered, before the batch finishes: a worker
    killed mid-batch has at most one unrecorded call per send thread."""
    from outreach.execution import sending

    settings.WORKER_SEND_CONCURRENCY = 1  # one call after another
    wire("wire-progress")
    batch = due_emails(3)
    claims = action_claim_due(limit=3, action_ids=[a.pk for a in batch])
    token = claims[0].lease_token
    items, _ = batch_start(token, [c.action_id for c in claims], "w1")
    assert set(ActionAttempt.objects.values_list("outcome", flat=True)) == {"queued"}

    snapshots: list[dict] = []  # what the database says after each recording
    deliver = sending._deliver

    def recording(batch_, answers, starts, record):
        deliver(batch_, answers, starts, record)
        snapshots.append(dict(ActionAttempt.objects.values_list("action_id", "outcome")))

    monkeypatch.setattr(sending, "_deliver", recording)
    batch_send(items)
    first, second, third = (item.action.pk for item in items)
    # One round a message: the first call's start; then its answer with the
    # second call's start (one transaction), and so on; the last answer alone.
    assert snapshots == [
        {first: "running", second: "queued", third: "queued"},
        {first: "completed", second: "running", third: "queued"},
        {first: "completed", second: "completed", third: "running"},
        {first: "completed", second: "completed", third: "completed"},
    ]
    assert [o.status for o in batch_finish(token, items)] == ["completed"] * 3


def test_the_reclaimer_settles_a_killed_batch_by_its_attempts(wire, due_emails):
    """Killed mid-batch (no finish): a recorded send completes, a queued call
    is requeued without a try, a running one is lost and requeued as a try."""
    wire("wire-killed")
    done, queued, running = due_emails(3)
    claims = action_claim_due(limit=3, action_ids=[done.pk, queued.pk, running.pk])
    token = claims[0].lease_token
    batch_start(token, [c.action_id for c in claims], "w1")
    ActionAttempt.objects.filter(action=done).update(
        outcome="completed", provider_message_id="wire-x", finished_at=timezone.now()
    )
    ActionAttempt.objects.filter(action=running).update(outcome="running")
    Action.objects.filter(pk__in=[done.pk, queued.pk, running.pk]).update(
        lease_expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert action_reclaim_expired() == 3
    done.refresh_from_db()
    queued.refresh_from_db()
    running.refresh_from_db()
    assert (done.status, done.provider_message_id) == (ActionStatus.COMPLETED, "wire-x")
    assert (queued.status, queued.retry_count) == (ActionStatus.SCHEDULED, 0)
    assert queued.attempts.get().error_message.startswith("not sent")
    assert (running.status, running.retry_count) == (ActionStatus.SCHEDULED, 1)
    assert running.attempts.get().outcome == AttemptOutcome.LOST


def test_a_batch_of_100_with_30_sends_left_today_sends_30_and_defers_70(
    wire, due_emails, email_identity
):
    executor = wire("wire-limit")
    email_identity.daily_limit = 40
    email_identity.save()
    earlier = due_emails(10)
    run_batch(earlier)  # 10 of today's 40 are used
    batch = due_emails(100)
    outcomes = run_batch(batch)
    assert sorted(o.status for o in outcomes) == ["completed"] * 30 + ["deferred"] * 70
    assert statuses(batch) == {ActionStatus.COMPLETED: 30, ActionStatus.SCHEDULED: 70}
    assert len(executor.sent) == 40
    deferred = Action.objects.filter(pk__in=[a.pk for a in batch], status=ActionStatus.SCHEDULED)
    oldest = ActionAttempt.objects.filter(action__in=earlier).earliest("started_at").started_at
    for action in deferred:
        assert action.retry_count == 0
        assert action.scheduled_time == oldest + timezone.timedelta(hours=24)
        assert "daily limit of 40 reached" in action.transitions.last().reason
    # Deferred actions made no attempt: the limit counts only sends.
    assert ActionAttempt.objects.filter(action__in=deferred).count() == 0


def test_the_sends_of_a_batch_run_concurrently(wire, due_emails, settings):
    """Eight sends that each wait for the other seven: they can only all pass
    if the engine has them in flight at once."""
    settings.WORKER_SEND_CONCURRENCY = 8
    barrier = threading.Barrier(8, timeout=10)
    executor = wire("wire-concurrent", on_send=lambda pk: barrier.wait())
    batch = due_emails(8)
    outcomes = run_batch(batch)
    assert [o.status for o in outcomes] == ["completed"] * 8
    assert sorted(executor.sent) == sorted(a.pk for a in batch)


def test_a_provider_cap_bounds_its_calls_in_flight(wire, due_emails, settings):
    settings.WORKER_SEND_CONCURRENCY = 8
    settings.PROVIDER_MAX_CONCURRENCY = {"wire-capped": 2}
    in_flight, peak, lock = [0], [0], threading.Lock()

    def send(pk):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.05)
        with lock:
            in_flight[0] -= 1

    wire("wire-capped", on_send=send)
    outcomes = run_batch(due_emails(8))
    assert [o.status for o in outcomes] == ["completed"] * 8
    assert peak[0] <= 2


def test_a_429_pauses_its_provider_for_the_rest_of_the_batch_and_the_next(
    wire, due_emails, settings
):
    settings.WORKER_SEND_CONCURRENCY = 1  # one after another: the first answers 429
    answers = [TransientError("429 Too Many Requests", retry_after=120)]

    def send(pk):
        if answers:
            raise answers.pop()

    executor = wire("wire-429", on_send=send)
    batch = due_emails(5)
    before = timezone.now()
    outcomes = run_batch(batch)
    assert sorted(o.status for o in outcomes) == ["deferred"] * 4 + ["retrying"]
    assert executor.sent == []  # the 429 itself is not recorded as sent
    skipped = Action.objects.filter(pk__in=[a.pk for a in batch], retry_count=0)
    assert skipped.count() == 4
    for action in skipped:
        assert action.status == ActionStatus.SCHEDULED
        assert action.scheduled_time >= before + timezone.timedelta(seconds=110)
        attempt = action.attempts.get()
        assert attempt.outcome == AttemptOutcome.TRANSIENT_ERROR
        assert attempt.error_message.startswith("not sent: wire-429 asked to wait")
    # The next batch of that provider waits too, without calling it.
    later = run_batch(due_emails(2))
    assert [o.status for o in later] == ["deferred", "deferred"]
    assert executor.sent == []


def test_a_hung_provider_does_not_hold_the_batch_past_its_timeout(wire, due_emails, settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 1
    settings.WORKER_SEND_CONCURRENCY = 4
    release = threading.Event()
    batch = due_emails(4)
    hung = batch[0].pk
    wire("wire-hung", on_send=lambda pk: release.wait(30) if pk == hung else None)
    try:
        outcomes = run_batch(batch)
    finally:
        release.set()
    assert sorted(o.action_id for o in outcomes) == sorted(a.pk for a in batch[1:])
    assert {o.status for o in outcomes} == {"completed"}
    stuck = Action.objects.get(pk=hung)
    # Its outcome is unknown: the lease decides (the reclaimer marks it lost).
    assert stuck.status == ActionStatus.PROCESSING
    assert stuck.attempts.get().outcome == AttemptOutcome.RUNNING


def test_sends_not_started_by_the_deadline_go_back_without_counting_a_try(
    wire, due_emails, settings
):
    settings.PROVIDER_TIMEOUT_SECONDS = 1
    settings.WORKER_SEND_CONCURRENCY = 1  # one session, one send after another
    wire("wire-slow", on_send=lambda pk: time.sleep(0.6))
    batch = due_emails(4)
    outcomes = {o.action_id: o.status for o in run_batch(batch)}
    assert set(outcomes.values()) == {"completed", "deferred"}
    for action in Action.objects.filter(pk__in=[a.pk for a in batch]):
        if outcomes[action.pk] == "deferred":
            assert action.status == ActionStatus.SCHEDULED
            assert action.retry_count == 0
            assert "deadline" in action.attempts.get().error_message


def test_one_smtp_session_serves_an_identity_s_messages(
    settings, due_emails, email_identity, workspace, monkeypatch
):
    """Against a real SMTP server: 20 emails from two mailboxes, a pool of two
    threads, so each mailbox's ten go over one connection (counted by spying on
    smtplib's connect, which still connects)."""
    from outreach import services as outreach_services

    settings.WORKER_SEND_CONCURRENCY = 2
    other = outreach_services.identity_create(
        workspace=workspace, channel="email", address="support@acme.example.com"
    )
    connects = []
    real_connect = smtplib.SMTP.connect

    def connect(self, *args, **kwargs):
        connects.append(args)
        return real_connect(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", connect)
    with running_smtp_server(settings) as server:
        batch = due_emails(10) + due_emails(10, identity=other, to=lambda i: f"x{i}@example.com")
        outcomes = run_batch(batch)
        assert [o.status for o in outcomes] == ["completed"] * 20
        received = server.wait_for(20)
    assert len(connects) == 2
    senders = {m.mail_from for m in received}
    assert senders == {"sales@acme.example.com", "support@acme.example.com"}
    ids = [m["Message-ID"] for m in received]
    assert len(set(ids)) == 20
