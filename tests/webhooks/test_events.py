"""Which change writes which event, to which subscriptions, and that each event's
`data` is what the resource's read endpoint answers right after the change."""

from __future__ import annotations

import pytest

from accounts.actors import Actor
from config.queue import PermanentError
from contacts import services as contact_services
from outreach import services as outreach
from outreach.execution import action_claim_due, action_execute
from outreach.models import Action, ActionStatus, EnrollmentState, StopReason
from outreach.services import cadences
from tests.outreach.conftest import due_sms, scripted  # noqa: F401 (fixtures)
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db

HOOK = "https://hooks.example.com/in"


def events(**filters) -> list[Event]:
    return list(Event.objects.filter(**filters).order_by("id"))


def types(**filters) -> list[str]:
    return [e.type for e in events(**filters)]


def action_read(client, action) -> dict:
    response = client.get(f"/v1/actions/{action.public_id}")
    assert response.status_code == 200, response.content
    return response.json()["action"]


def run_one(action) -> str:
    [claim] = action_claim_due(limit=10, action_ids=[action.pk])
    return action_execute(action_id=claim.action_id, lease_token=claim.lease_token).status


@pytest.fixture
def actor(owner):
    return Actor.for_user(owner)


@pytest.fixture
def cadence(workspace, actor, email_identity):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Q3 follow-up")
    cadences.step_create(
        cadence=cadence,
        type="email",
        day=1,
        params_template={"subject": "Hi {{ contact.firstname }}", "body": "Hello."},
    )
    cadences.step_create(
        cadence=cadence, type="other", day=3, name="Call the contact", params_template={}
    )
    return cadence


@pytest.fixture
def ada(make_contact):
    return make_contact("ada@example.com", firstname="Ada", lastname="Lovelace")


# --- enrollment.stopped -------------------------------------------------------------
def test_enrollment_stopped_by_a_person(workspace, actor, cadence, ada, subscribe, owner_client):
    enrollment = cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=cadence, contact=ada
    )
    [open_action] = enrollment.actions.filter(status=ActionStatus.SCHEDULED)
    subscribe(HOOK)
    cadences.enrollment_stop(
        enrollment=enrollment, reason=StopReason.MANUAL, note="not now", actor=actor
    )
    # Its open action is cancelled first, then the enrollment stops.
    assert types() == ["action.cancelled", "enrollment.stopped"]
    [event] = events(type="enrollment.stopped")
    assert event.resource == f"enrollment:{enrollment.pk}"
    response = owner_client.get(f"/v1/enrollments/{enrollment.pk}")
    assert response.status_code == 200, response.content
    read = response.json()["enrollment"]
    assert event.payload["data"] == read
    assert read["state"] == EnrollmentState.STOPPED
    [cancelled] = events(type="action.cancelled")
    assert cancelled.resource == f"action:{open_action.public_id}"
    assert cancelled.payload["data"] == action_read(owner_client, open_action)


def test_enrollment_stopped_for_the_contact(
    workspace, actor, cadence, ada, subscribe, owner_client, owner
):
    """An unsubscribe stops the contact's enrollments (enrollments_stop_for_contact)."""
    enrollment = cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=cadence, contact=ada
    )
    subscribe(HOOK, ["enrollment.stopped", "contact.unsubscribed"])
    contact_services.contact_suppress(contact=ada, flag="unsubscribed", reason="link", actor=actor)
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.STOPPED
    assert sorted(types()) == ["contact.unsubscribed", "enrollment.stopped"]
    [event] = events(type="enrollment.stopped")
    read = owner_client.get(f"/v1/enrollments/{enrollment.pk}").json()["enrollment"]
    assert event.payload["data"] == read
    assert read["state"] == EnrollmentState.STOPPED


# --- contact.updated ----------------------------------------------------------------
def test_contact_updated(ada, subscribe, actor, owner_client):
    subscribe(HOOK)
    contact_services.contact_update(
        contact=ada, actor=actor, properties={"lastname": "King", "favourite_colour": "teal"}
    )
    [event] = events()
    assert event.type == "contact.updated"
    assert event.resource == f"contact:{ada.public_id}"
    read = owner_client.get(f"/v1/contacts/{ada.public_id}").json()["contact"]
    assert event.payload["data"] == read
    assert read["properties"]["lastname"] == "King"


def test_contact_update_that_changes_nothing_is_no_event(ada, subscribe, actor):
    subscribe(HOOK)
    contact_services.contact_update(contact=ada, actor=actor, properties={"firstname": "Ada"})
    assert not Event.objects.exists()


def test_contact_updated_through_the_api(ada, subscribe, owner_client):
    subscribe(HOOK, ["contact.updated"])
    response = owner_client.put(
        f"/v1/contacts/{ada.public_id}", {"properties": {"jobtitle": "Countess"}}, format="json"
    )
    assert response.status_code == 200, response.content
    [event] = events()
    read = owner_client.get(f"/v1/contacts/{ada.public_id}").json()["contact"]
    assert event.payload["data"] == read


# --- a reviewer's decisions, cancel, failure -----------------------------------------
def test_action_edited_then_approved(make_action, subscribe, actor, owner_client):
    action = make_action()
    subscribe(HOOK)
    edited = {"to": "contact@example.com", "subject": "Better", "body": "Hi, edited."}
    outreach.action_decide(action=action, actor=actor, decision="edit", params=edited)
    assert types() == ["action.edited", "action.approved"]
    read = action_read(owner_client, action)
    assert read["params"] == edited and read["status"] == ActionStatus.SCHEDULED
    for event in events():
        assert event.resource == f"action:{action.public_id}"
        assert event.payload["data"] == read
    # Delivered in that order: the approval waits behind the edit.
    deliveries = list(Delivery.objects.order_by("id"))
    assert [d.event.type for d in deliveries] == ["action.edited", "action.approved"]


def test_action_rejected_once(make_action, subscribe, actor, owner_client):
    action = make_action()
    subscribe(HOOK)
    outreach.action_decide(action=action, actor=actor, decision="reject", comment="no")
    assert types() == ["action.rejected"]
    [event] = events()
    read = action_read(owner_client, action)
    assert read["status"] == ActionStatus.REJECTED
    assert event.payload["data"] == read


def test_action_cancelled(make_action, subscribe, actor, owner_client):
    action = make_action(require_approval=False)
    subscribe(HOOK)
    outreach.action_cancel(action=action, actor=actor, reason="changed my mind")
    assert types() == ["action.cancelled"]
    [event] = events()
    read = action_read(owner_client, action)
    assert read["status"] == ActionStatus.CANCELLED
    assert event.payload["data"] == read


def test_action_failed_permanently(scripted, due_sms, subscribe, owner_client):  # noqa: F811
    scripted(PermanentError("21211: The 'To' number is not a valid phone number."))
    action = due_sms()
    subscribe(HOOK)
    assert run_one(action) == "failed"
    # The claim (→ processing) is no event; the failure is.
    assert types() == ["action.failed"]
    [event] = events()
    read = action_read(owner_client, action)
    assert read["status"] == ActionStatus.FAILED and "21211" in read["error_message"]
    assert event.payload["data"] == read


def test_action_completed_data_is_the_read_endpoint(
    scripted,  # noqa: F811
    due_sms,  # noqa: F811
    subscribe,
    owner_client,
):
    scripted()
    action = due_sms()
    subscribe(HOOK, ["action.completed"])
    assert run_one(action) == "completed"
    [event] = events()
    assert event.type == "action.completed"
    assert event.payload["data"] == action_read(owner_client, action)


# --- who gets what -----------------------------------------------------------------
def lifecycle(make_action, actor) -> Action:
    """created, pending_approval, approved, completed (a task done by a person)."""
    task = make_action(type="task", params={"title": "Call Ada"})
    outreach.action_decide(action=task, actor=actor, decision="approve")
    outreach.action_complete_task(action=task, actor=actor)
    return task


ALL_FOUR = ["action.created", "action.pending_approval", "action.approved", "action.completed"]


def test_a_workspace_without_subscription_gets_no_rows(make_action, actor, make_contact):
    lifecycle(make_action, actor)
    make_contact("grace@example.com")
    assert not Event.objects.exists() and not Delivery.objects.exists()


def test_a_subscription_gets_only_its_types(make_action, actor, subscribe, make_contact):
    hook = subscribe(HOOK, ["action.completed"])
    lifecycle(make_action, actor)
    make_contact("grace@example.com")
    assert types() == ["action.completed"]
    assert [(d.subscription, d.event.type) for d in Delivery.objects.all()] == [
        (hook, "action.completed")
    ]


def test_star_gets_every_event(make_action, actor, subscribe, make_contact):
    subscribe(HOOK, ["action.completed"])
    everything = subscribe(HOOK + "/all", ["*"])
    task = lifecycle(make_action, actor)
    contact = make_contact("grace@example.com")
    assert types() == [*ALL_FOUR, "contact.created"]
    got = Delivery.objects.filter(subscription=everything).order_by("id")
    assert [d.event.type for d in got] == [*ALL_FOUR, "contact.created"]
    assert {d.resource for d in got} == {
        f"action:{task.public_id}",
        f"contact:{contact.public_id}",
    }
    # One event row per change, however many subscriptions want it.
    assert Delivery.objects.filter(event__type="action.completed").count() == 2


def test_another_workspaces_subscription_gets_nothing(
    make_action, actor, subscribe, other_workspace, make_contact
):
    subscribe(HOOK, ["*"], workspace_=other_workspace)
    lifecycle(make_action, actor)
    make_contact("grace@example.com")
    assert not Event.objects.exists() and not Delivery.objects.exists()


def test_a_disabled_subscription_gets_nothing(make_action, actor, subscribe):
    from webhooks import services

    hook = subscribe(HOOK, ["*"])
    services.subscription_update(subscription=hook, changes={"is_active": False})
    lifecycle(make_action, actor)
    assert not Event.objects.exists()


def test_execute_by_a_reviewer_is_one_approval(make_action, subscribe, actor, owner_client):
    action = make_action()
    subscribe(HOOK)
    outreach.action_execute_now(action=action, actor=actor, approve_pending=True)
    # The approval is an event; making it due now is none.
    assert types() == ["action.approved"]
    [event] = events()
    assert event.payload["data"] == action_read(owner_client, action)


def test_a_failed_action_retried_is_scheduled_again(
    scripted,  # noqa: F811
    due_sms,  # noqa: F811
    subscribe,
    actor,
    owner_client,
):
    scripted(PermanentError("21211: invalid number"))
    action = due_sms()
    assert run_one(action) == "failed"
    subscribe(HOOK)
    outreach.action_retry(action=action, actor=actor)
    assert types() == ["action.scheduled"]
    [event] = events()
    read = action_read(owner_client, action)
    assert read["status"] == ActionStatus.SCHEDULED
    assert event.payload["data"] == read
