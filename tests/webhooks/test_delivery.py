"""Events in the outbox with their change, delivered signed, in order, retried,
and a subscription disabled after 5 days of failures."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from contacts.services import contact_suppress
from outreach import services as outreach
from webhooks.delivery import deliveries_claim, deliveries_dispatch
from webhooks.models import Delivery, DeliveryStatus, Event, Subscription

pytestmark = pytest.mark.django_db


def drain(rounds: int = 10) -> None:
    for _ in range(rounds):
        if not deliveries_dispatch():
            return


def make_due() -> None:
    Delivery.objects.filter(status=DeliveryStatus.PENDING).update(next_attempt_at=timezone.now())


def test_no_subscription_no_event(make_action):
    make_action()
    assert not Event.objects.exists()


def test_rolled_back_change_leaves_no_event(make_action, subscribe):
    subscribe("https://hooks.example.com/in")
    with pytest.raises(RuntimeError), transaction.atomic():
        make_action()
        assert Event.objects.count() == 2  # written with the change...
        raise RuntimeError("the change fails")
    assert not Event.objects.exists()  # ...and gone with it


def test_event_data_is_the_read_endpoint(make_action, subscribe, owner_client):
    subscribe("https://hooks.example.com/in", ["action.approved"])
    action = make_action()
    response = owner_client.post(
        f"/v1/actions/{action.public_id}/approve", {"action": "approve"}, format="json"
    )
    assert response.status_code == 200, response.content
    [event] = Event.objects.all()
    assert event.type == "action.approved"
    assert event.resource == f"action:{action.public_id}"
    read = owner_client.get(f"/v1/actions/{action.public_id}").json()["action"]
    assert event.payload["data"] == read
    assert set(event.payload) == {"type", "timestamp", "data"}


def test_signed_delivery_in_order_to_a_real_receiver(
    make_action, subscribe, receiver, owner_client, workspace, owner, email_identity
):
    hook = subscribe(receiver.url)
    receiver.secret = hook.secret
    task = make_action(type="task", params={"title": "Call Ada"})
    owner_client.post(f"/v1/actions/{task.public_id}/approve", {"action": "approve"}, format="json")
    owner_client.post(f"/v1/actions/{task.public_id}/complete", {}, format="json")
    drain()
    assert receiver.bad_signatures == 0
    assert receiver.types() == [
        "action.created",
        "action.pending_approval",
        "action.approved",
        "action.completed",
    ]
    assert receiver.verified[-1]["data"]["status"] == "completed"
    headers = receiver.requests[0]["headers"]
    assert headers["webhook-id"].startswith("msg_")
    assert headers["webhook-signature"].startswith("v1,")
    assert all(d.status == DeliveryStatus.DELIVERED for d in Delivery.objects.all())


def test_a_failing_receiver_gets_the_event_later_once(make_action, subscribe, receiver):
    hook = subscribe(receiver.url, ["action.cancelled", "action.created"])
    receiver.secret = hook.secret
    receiver.statuses = [500, 503, 200]
    action = make_action()
    outreach.action_cancel(action=action, actor=Actor.for_user(action.owner))
    assert deliveries_dispatch() == 1  # only the oldest of the action: created
    first = Delivery.objects.get(event__type="action.created")
    assert first.status == DeliveryStatus.PENDING and first.attempts == 1
    assert first.last_status_code == 500
    assert first.next_attempt_at > timezone.now()
    # The later event of the same action waits behind the failing one.
    assert deliveries_dispatch() == 0
    make_due()
    assert deliveries_dispatch() == 1
    make_due()
    drain()
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == 4 and ids[0] == ids[1] == ids[2] != ids[3]  # stable across retries
    assert receiver.types() == ["action.created"] * 3 + ["action.cancelled"]
    first.refresh_from_db()
    assert first.status == DeliveryStatus.DELIVERED and first.attempts == 3
    assert first.delivered_at is not None
    hook.refresh_from_db()
    assert hook.failing_since is None
    drain()
    assert len(receiver.requests) == 4  # delivered once: nothing more


def test_expired_lease_is_reclaimed(make_action, subscribe, receiver):
    hook = subscribe(receiver.url, ["action.created"])
    receiver.secret = hook.secret
    make_action()
    [claimed] = deliveries_claim(limit=10)  # a worker claims it, then dies
    assert claimed.status == DeliveryStatus.DELIVERING
    assert deliveries_dispatch() == 0  # leased: nobody else takes it
    Delivery.objects.filter(pk=claimed.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert deliveries_dispatch() == 1
    claimed.refresh_from_db()
    assert claimed.status == DeliveryStatus.DELIVERED
    assert receiver.types() == ["action.created"]


def test_disabled_after_five_days_of_failures(
    make_action, subscribe, receiver, owner, django_capture_on_commit_callbacks
):
    hook = subscribe(receiver.url, ["action.created"])
    receiver.secret = hook.secret
    receiver.statuses = [500]
    make_action()
    make_action()
    deliveries_dispatch()
    hook.refresh_from_db()
    assert hook.failing_since is not None and hook.is_active
    hook.failing_since = timezone.now() - timedelta(days=5, seconds=1)
    hook.save()
    make_due()
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_dispatch()
    hook.refresh_from_db()
    assert not hook.is_active and hook.disabled_at is not None
    assert Delivery.objects.filter(status=DeliveryStatus.FAILED).count() == 1
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert hook.public_id in mail.outbox[0].subject
    # Disabled: nothing more is sent until it is turned on again.
    sent = len(receiver.requests)
    make_due()
    assert deliveries_dispatch() == 0 and len(receiver.requests) == sent


def test_contact_events(make_contact, subscribe, workspace, owner):
    subscribe("https://hooks.example.com/in", ["contact.created", "contact.unsubscribed"])
    contact = make_contact("ada@example.com")
    contact_suppress(
        contact=contact, flag="unsubscribed", reason="link", actor=Actor.for_user(owner)
    )
    events = list(Event.objects.order_by("id"))
    assert [e.type for e in events] == ["contact.created", "contact.unsubscribed"]
    assert events[0].payload["data"]["id"] == contact.public_id
    assert events[1].resource == f"contact:{contact.public_id}"


def test_a_batch_costs_one_query_without_subscriptions(make_action, subscribe, workspace):
    """The receiver of a transition batch checks subscriptions once, not per action."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from outreach.models import ActionStatus
    from outreach.transitions import Change, transitions_record

    actions = [make_action() for _ in range(5)]
    for action in actions:
        action.status = ActionStatus.CANCELLED
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        transitions_record(
            [Change(a, ActionStatus.PENDING_APPROVAL) for a in actions[:1]],
            actor=Actor.for_user(actions[0].owner),
        )
    one = len(captured.captured_queries)
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        transitions_record(
            [Change(a, ActionStatus.PENDING_APPROVAL) for a in actions[1:]],
            actor=Actor.for_user(actions[0].owner),
        )
    assert len(captured.captured_queries) == one
    assert not any("webhooks_event" in q["sql"] for q in captured.captured_queries)


def test_turned_on_again_the_disabled_subscription_delivers_everything_in_order(
    make_action, subscribe, receiver, owner
):
    """The delivery that was failing when the subscription was disabled is not
    lost: turned on again, it goes first, then the rest, all due at once."""
    from webhooks import services

    hook = subscribe(receiver.url, ["action.created", "action.cancelled"])
    receiver.secret = hook.secret
    receiver.statuses = [500, 500, 200]
    action = make_action()
    outreach.action_cancel(action=action, actor=Actor.for_user(owner))
    deliveries_dispatch()
    Subscription.objects.filter(pk=hook.pk).update(
        failing_since=timezone.now() - timedelta(days=5, seconds=1)
    )
    make_due()
    deliveries_dispatch()  # the retry fails 5 days on: disabled
    hook.refresh_from_db()
    assert not hook.is_active
    created = Delivery.objects.get(event__type="action.created")
    assert created.status == DeliveryStatus.FAILED
    services.subscription_update(subscription=hook, changes={"is_active": True})
    drain()  # without make_due(): resuming makes them due now
    assert receiver.types() == ["action.created"] * 3 + ["action.cancelled"]
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
