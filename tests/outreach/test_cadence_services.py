"""Cadence services: steps and their templates, enrolling, advancing through
the steps with the real engine, and the idempotency of the advance."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core import mail
from django.db import connection, connections
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from config.exceptions import Conflict, DomainError, InvalidTransition, ValidationFailed
from contacts import services as contact_services
from contacts.models import ContactEvent
from outreach import services
from outreach.execution import action_claim_due, action_execute
from outreach.models import (
    Action,
    ActionStatus,
    Enrollment,
    EnrollmentState,
    Step,
    StopReason,
)
from outreach.services import cadences
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = {
    "subject": "Hi {{ contact.firstname }}",
    "body": "Hello {{ contact.firstname }} at {{ contact.company }}, {{ sender.name }} here.",
}
SMS = {"message": "{{ contact.firstname }}, did you see my email about {{ cadence.name }}?"}


@pytest.fixture
def twilio(twilio):
    """The conftest's fake Twilio, whose own code must raise nothing."""
    yield twilio
    assert twilio.errors == []


@pytest.fixture
def actor(owner):
    return Actor.for_user(owner)


@pytest.fixture
def cadence(workspace, actor, email_identity, sms_identity):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Q3 follow-up")
    cadences.step_create(cadence=cadence, type="email", day=1, params_template=EMAIL)
    cadences.step_create(cadence=cadence, type="sms", day=2, params_template=SMS)
    cadences.step_create(
        cadence=cadence, type="other", day=3, name="Call the contact", params_template={}
    )
    return cadence


@pytest.fixture
def ada(make_contact):
    return make_contact(
        "ada@example.com",
        firstname="Ada",
        lastname="Lovelace",
        company="Analytical Engines",
        phone="+14155550123",
        favourite_colour="teal",
    )


def enroll(workspace, actor, cadence, contact, **kw) -> Enrollment:
    return cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=cadence, contact=contact, **kw
    )


def open_action(enrollment: Enrollment) -> Action:
    return enrollment.actions.get(status__in=["pending_approval", "scheduled"])


def run_due(action: Action) -> str:
    """The engine: a day passes (the action is due now), then claim and execute it."""
    Action.objects.filter(pk=action.pk).update(scheduled_time=timezone.now())
    [claim] = action_claim_due(limit=10, action_ids=[action.pk])
    return action_execute(action_id=claim.action_id, lease_token=claim.lease_token).status


# --- Enrolling ------------------------------------------------------------------------
def test_enrolling_schedules_the_first_step_rendered_for_the_contact(
    workspace, actor, owner, cadence, ada, email_identity
):
    enrollment = enroll(workspace, actor, cadence, ada)
    assert enrollment.state == EnrollmentState.ACTIVE
    assert enrollment.user == owner
    assert enrollment.current_step.order == 1
    action = open_action(enrollment)
    assert action.type == "send_email"
    assert action.status == ActionStatus.SCHEDULED
    assert action.params == {
        "to": "ada@example.com",
        "subject": "Hi Ada",
        "body": "Hello Ada at Analytical Engines, Acme Sales here.",
    }
    assert (action.identity, action.contact, action.owner) == (email_identity, ada, owner)
    assert (action.cadence, action.step, action.enrollment) == (
        cadence,
        enrollment.current_step,
        enrollment,
    )
    assert action.scheduled_time <= timezone.now()
    assert ContactEvent.objects.filter(contact=ada, type="cadence.enrolled").exists()


def test_custom_properties_and_the_step_are_in_the_template_context(
    workspace, actor, ada, email_identity
):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Colours")
    cadences.step_create(
        cadence=cadence,
        type="email",
        name="Opener",
        params_template={
            "subject": "{{ step.name }} on day {{ step.day }}",
            "body": "I hear you like {{ contact.favourite_colour | default('colours') }}.",
        },
    )
    action = open_action(enroll(workspace, actor, cadence, ada))
    assert action.params["subject"] == "Opener on day 1"
    assert action.params["body"] == "I hear you like teal."


def test_a_step_on_a_later_day_is_due_that_many_days_after_enrollment(
    workspace, actor, ada, email_identity
):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Later")
    cadences.step_create(cadence=cadence, type="email", day=3, params_template=EMAIL)
    enrollment = enroll(workspace, actor, cadence, ada)
    action = open_action(enrollment)
    assert action.scheduled_time == enrollment.started_at + dt.timedelta(days=2)


def test_a_step_needing_approval_waits_for_a_reviewer(workspace, actor, ada, email_identity):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Reviewed")
    cadences.step_create(
        cadence=cadence, type="email", params_template=EMAIL, require_approval=True
    )
    action = open_action(enroll(workspace, actor, cadence, ada))
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_it_refuses_a_suppressed_contact(workspace, actor, cadence, ada):
    contact_services.contact_suppress(
        contact=ada, flag="unsubscribed", reason="asked us to stop", actor=actor
    )
    with pytest.raises(Conflict) as caught:
        enroll(workspace, actor, cadence, ada)
    assert caught.value.code == "contact_suppressed"
    assert "unsubscribed: asked us to stop" in caught.value.message
    assert not Enrollment.objects.exists()
    assert not Action.objects.exists()


def test_it_refuses_an_inactive_cadence_and_one_without_steps(workspace, actor, cadence, ada):
    empty = cadences.cadence_create(workspace=workspace, actor=actor, name="Empty")
    with pytest.raises(Conflict) as caught:
        enroll(workspace, actor, empty, ada)
    assert caught.value.code == "cadence_has_no_steps"
    cadences.cadence_update(cadence=cadence, actor=actor, changes={"is_active": False})
    with pytest.raises(Conflict) as caught:
        enroll(workspace, actor, cadence, ada)
    assert caught.value.code == "cadence_inactive"


def test_it_refuses_a_contact_already_active_on_the_cadence(workspace, actor, cadence, ada):
    first = enroll(workspace, actor, cadence, ada)
    with pytest.raises(Conflict) as caught:
        enroll(workspace, actor, cadence, ada)
    assert caught.value.code == "already_enrolled"
    # Once stopped, the contact can be enrolled again.
    cadences.enrollment_stop(enrollment=first, reason="manual", actor=actor)
    assert enroll(workspace, actor, cadence, ada).state == EnrollmentState.ACTIVE


def test_it_refuses_a_first_step_without_an_identity(workspace, actor, ada):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="No mailbox")
    cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
    with pytest.raises(ValidationFailed) as caught:
        enroll(workspace, actor, cadence, ada)
    assert caught.value.code == "no_identity"
    assert "no active email identity" in caught.value.message
    assert not Enrollment.objects.exists()


def test_it_refuses_a_first_step_the_contact_cannot_receive(
    workspace, actor, make_contact, sms_identity
):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Texts")
    cadences.step_create(cadence=cadence, type="sms", params_template=SMS)
    no_phone = make_contact("nophone@example.com", firstname="Nia")
    with pytest.raises(ValidationFailed) as caught:
        enroll(workspace, actor, cadence, no_phone)
    assert caught.value.code == "step_invalid_for_contact"
    assert set(caught.value.fields) == {"params_template.recipient_phone"}
    assert not Enrollment.objects.exists()


def test_it_refuses_another_workspaces_contact(workspace, actor, cadence, make_contact):
    from config.exceptions import NotFound
    from tests.factories import WorkspaceFactory

    elsewhere = make_contact("x@example.com", WorkspaceFactory(name="Else"))
    with pytest.raises(NotFound):
        enroll(workspace, actor, cadence, elsewhere)


# --- Identities -----------------------------------------------------------------------
def test_the_steps_identity_wins_then_the_users_then_the_workspaces_first(
    workspace, actor, owner, ada, email_identity
):
    bob = MembershipFactory(
        workspace=workspace, user=UserFactory(username="bob2@example.org"), role=Role.MEMBER
    ).user
    bobs = services.identity_create(
        workspace=workspace, channel="email", address="bob@acme.example.com", owner=bob
    )
    shared = services.identity_create(
        workspace=workspace, channel="email", address="team@acme.example.com"
    )
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Who sends")
    cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
    assert open_action(enroll(workspace, actor, cadence, ada, user=bob)).identity == bobs
    cadences.enrollments_stop_for_contact(contact=ada, reason="manual", actor=actor)

    carol = MembershipFactory(workspace=workspace, user=UserFactory(), role=Role.MEMBER).user
    action = open_action(enroll(workspace, actor, cadence, ada, user=carol))
    assert action.identity == email_identity  # the workspace's first active one
    assert action.owner == carol
    cadences.enrollments_stop_for_contact(contact=ada, reason="manual", actor=actor)

    step = cadence.steps.get()
    cadences.step_update(step=step, changes={"identity": shared})
    assert open_action(enroll(workspace, actor, cadence, ada, user=bob)).identity == shared


# --- Advancing ------------------------------------------------------------------------
def test_completing_each_step_schedules_the_next_then_the_enrollment_completes(
    workspace, actor, cadence, ada, twilio
):
    enrollment = enroll(workspace, actor, cadence, ada)
    email = open_action(enrollment)
    assert run_due(email) == "completed"
    [sent] = mail.outbox
    assert (sent.to, sent.subject) == (["ada@example.com"], "Hi Ada")

    enrollment.refresh_from_db()
    assert enrollment.current_step.order == 2
    sms = open_action(enrollment)
    assert sms.type == "send_sms"
    assert sms.params == {
        "recipient_phone": "+14155550123",
        "recipient_name": "Ada Lovelace",
        "message": "Ada, did you see my email about Q3 follow-up?",
    }
    assert sms.scheduled_time == enrollment.started_at + dt.timedelta(days=1)
    assert run_due(sms) == "completed"
    assert twilio.messages[0].form["Body"] == "Ada, did you see my email about Q3 follow-up?"

    enrollment.refresh_from_db()
    task = open_action(enrollment)
    assert (task.type, task.params) == ("task", {"title": "Call the contact"})  # the step's name
    services.action_complete_task(action=task, actor=actor, note="left a voicemail")

    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.COMPLETED
    assert enrollment.finished_at is not None
    assert enrollment.stop_reason == ""
    assert list(enrollment.actions.values_list("status", flat=True)) == ["completed"] * 3
    assert ContactEvent.objects.filter(contact=ada, type="cadence.completed").count() == 1


def test_advancing_twice_for_the_same_action_schedules_the_next_step_once(
    workspace, actor, cadence, ada
):
    enrollment = enroll(workspace, actor, cadence, ada)
    email = open_action(enrollment)
    assert run_due(email) == "completed"  # advanced once, by the engine
    email.refresh_from_db()
    again = cadences.enrollment_advance(action=email)
    cadences.enrollment_advance(action=email)
    assert again.current_step.order == 2
    assert enrollment.actions.count() == 2
    assert enrollment.actions.filter(step__order=2).count() == 1


def test_a_rejected_step_is_skipped_and_the_next_one_scheduled(
    workspace, actor, ada, email_identity
):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Drafts")
    cadences.step_create(
        cadence=cadence, type="email", params_template=EMAIL, require_approval=True
    )
    cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
    enrollment = enroll(workspace, actor, cadence, ada)
    draft = open_action(enrollment)
    services.action_decide(action=draft, actor=actor, decision="reject", comment="too pushy")
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE
    assert open_action(enrollment).step.order == 2


def test_a_step_cancelled_by_a_person_is_skipped(workspace, actor, cadence, ada):
    enrollment = enroll(workspace, actor, cadence, ada)
    services.action_cancel(action=open_action(enrollment), actor=actor)
    enrollment.refresh_from_db()
    assert open_action(enrollment).type == "send_sms"


def test_a_failed_step_stops_the_enrollment(workspace, actor, cadence, ada, twilio):
    enrollment = enroll(workspace, actor, cadence, ada)
    assert run_due(open_action(enrollment)) == "completed"
    twilio.reject("+14155550123", 21211)
    sms = open_action(enrollment.__class__.objects.get(pk=enrollment.pk))
    assert run_due(sms) == "failed"
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.STOPPED
    assert enrollment.stop_reason == StopReason.STEP_FAILED
    assert sms.public_id in enrollment.stop_note
    assert enrollment.actions.count() == 2  # nothing after the failed step


def test_a_step_failed_for_suppression_stops_with_that_flags_reason(workspace, actor, cadence, ada):
    enrollment = enroll(workspace, actor, cadence, ada)
    email = open_action(enrollment)
    # Suppressed behind the services' back, so only the engine's check sees it.
    type(ada).objects.filter(pk=ada.pk).update(bounced=True, bounced_reason="550 no such user")
    assert run_due(email) == "failed"
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", StopReason.BOUNCED)


def test_a_later_step_the_contact_cannot_receive_stops_with_step_failed(
    workspace, actor, make_contact, email_identity, sms_identity
):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Mixed")
    cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
    cadences.step_create(cadence=cadence, type="sms", params_template=SMS)
    no_phone = make_contact("nophone@example.com", firstname="Nia")
    enrollment = enroll(workspace, actor, cadence, no_phone)
    assert run_due(open_action(enrollment)) == "completed"
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_reason) == ("stopped", "step_failed")
    assert "Step 2 could not be scheduled" in enrollment.stop_note
    assert "recipient_phone" in enrollment.stop_note
    # The email step's own outcome is kept.
    assert enrollment.actions.get().status == ActionStatus.COMPLETED


def test_an_action_of_a_stopped_enrollment_is_cancelled_by_the_engine_not_sent(
    workspace, actor, cadence, ada
):
    """A stop skips an action someone else held at that moment (SKIP LOCKED); the
    engine cancels it when it comes up."""
    enrollment = enroll(workspace, actor, cadence, ada)
    email = open_action(enrollment)
    Enrollment.objects.filter(pk=enrollment.pk).update(
        state=EnrollmentState.STOPPED, stop_reason=StopReason.REPLIED
    )
    assert run_due(email) == "cancelled"
    email.refresh_from_db()
    assert email.status == ActionStatus.CANCELLED
    assert email.transitions.last().reason == "enrollment stopped: replied"
    assert mail.outbox == []


# --- Stopping -------------------------------------------------------------------------
def test_stopping_cancels_the_pending_actions_and_records_the_reason(
    workspace, actor, cadence, ada
):
    enrollment = enroll(workspace, actor, cadence, ada)
    email = open_action(enrollment)
    stopped = cadences.enrollment_stop(
        enrollment=enrollment, reason="meeting_booked", note="Tue 10:00", actor=actor
    )
    assert (stopped.state, stopped.stop_reason, stopped.stop_note) == (
        "stopped",
        "meeting_booked",
        "Tue 10:00",
    )
    assert stopped.finished_at is not None
    email.refresh_from_db()
    assert email.status == ActionStatus.CANCELLED
    assert email.transitions.last().reason == "enrollment stopped: meeting_booked: Tue 10:00"
    with pytest.raises(InvalidTransition) as caught:
        cadences.enrollment_stop(enrollment=enrollment, reason="manual", actor=actor)
    assert caught.value.code == "enrollment_not_active"


def test_a_bad_stop_reason_is_refused(workspace, actor, cadence, ada):
    enrollment = enroll(workspace, actor, cadence, ada)
    with pytest.raises(ValidationFailed) as caught:
        cadences.enrollment_stop(enrollment=enrollment, reason="bored", actor=actor)
    assert set(caught.value.fields) == {"reason"}


def test_deactivating_a_cadence_stops_its_active_enrollments(
    workspace, actor, cadence, ada, make_contact
):
    grace = make_contact("grace@example.com", firstname="Grace")
    enrollments = [enroll(workspace, actor, cadence, c) for c in (ada, grace)]
    cadences.cadence_update(cadence=cadence, actor=actor, changes={"is_active": False})
    for enrollment in enrollments:
        enrollment.refresh_from_db()
        assert (enrollment.state, enrollment.stop_reason) == ("stopped", "cadence_deactivated")
        assert enrollment.actions.get().status == ActionStatus.CANCELLED
    # Reactivating restarts nothing.
    cadences.cadence_update(cadence=cadence, actor=actor, changes={"is_active": True})
    assert not Enrollment.objects.filter(state="active").exists()


def test_deleting_a_contact_stops_its_enrollments(workspace, actor, cadence, ada):
    enrollment = enroll(workspace, actor, cadence, ada)
    email = open_action(enrollment)
    contact_services.contact_delete(contact=ada, actor=actor)
    email.refresh_from_db()
    assert email.status == ActionStatus.CANCELLED
    assert not Enrollment.objects.filter(pk=enrollment.pk).exists()


# --- Steps ----------------------------------------------------------------------------
def test_steps_are_appended_in_order_and_an_order_is_unique(cadence):
    assert list(cadence.steps.values_list("order", flat=True)) == [1, 2, 3]
    step = cadences.step_create(cadence=cadence, type="other", params_template={"title": "x"})
    assert step.order == 4
    with pytest.raises(Conflict) as caught:
        cadences.step_create(cadence=cadence, type="other", order=2)
    assert caught.value.code == "step_order_taken"
    with pytest.raises(Conflict):
        cadences.step_update(step=step, changes={"order": 1})


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"subject": "Hi {{ contact.firstname ", "body": "x"}, "params_template.subject"),
        ({"subject": "Hi {{ contact.__class__ }}", "body": "x"}, "params_template.subject"),
        ({"body": "no subject"}, "params_template.subject"),
        ({"subject": "s", "body": "b", "recipient": "x"}, "params_template.recipient"),
        (
            {"subject": "s", "body": "b", "cc": ["{{ contact.email }}", "nope"]},
            "params_template.cc[1]",
        ),
        (
            {"subject": "s", "body": "{{ contact.firstname | nosuchfilter }}"},
            "params_template.body",
        ),
        ("not an object", "params_template"),
    ],
)
def test_a_bad_template_is_refused_naming_the_key(workspace, actor, template, field):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Bad")
    with pytest.raises(ValidationFailed) as caught:
        cadences.step_create(cadence=cadence, type="email", params_template=template)
    assert field in caught.value.fields, caught.value.fields
    assert not Step.objects.exists()


def test_params_nested_too_deeply_are_refused_naming_the_key(workspace, actor):
    deep: object = "{{ contact.email }}"
    for _ in range(2000):  # walked recursively, this was a RecursionError
        deep = [deep]
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Deep")
    with pytest.raises(ValidationFailed) as caught:
        cadences.step_create(
            cadence=cadence, type="email", params_template={"subject": "s", "body": "b", "cc": deep}
        )
    assert all(name.startswith("params_template.cc[0]") for name in caught.value.fields)
    assert not Step.objects.exists()


def test_a_stored_template_nested_too_deeply_is_a_template_error_when_enrolling(
    workspace, actor, email_identity, ada
):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Stored")
    step = cadences.step_create(cadence=cadence, type="email", params_template=EMAIL)
    deep = "{{ " + "(" * 100 + "contact.firstname" + ")" * 100 + " }}"
    Step.objects.filter(pk=step.pk).update(params_template={"subject": "s", "body": deep})
    with pytest.raises(ValidationFailed) as caught:
        enroll(workspace, actor, cadence, ada)
    assert caught.value.code == "step_invalid_for_contact"
    assert "more than 20 levels deep" in caught.value.fields["params_template.body"][0]
    assert not Enrollment.objects.exists()


def test_a_step_is_refused_with_an_identity_of_the_wrong_channel_or_bad_values(
    workspace, actor, sms_identity
):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Bad")
    with pytest.raises(ValidationFailed) as caught:
        cadences.step_create(
            cadence=cadence, type="email", params_template=EMAIL, identity=sms_identity, day=0
        )
    assert set(caught.value.fields) == {"identity_id", "day"}
    with pytest.raises(ValidationFailed) as caught:
        cadences.step_create(cadence=cadence, type="fax")
    assert set(caught.value.fields) == {"type"}


def test_a_step_update_is_validated_as_a_whole(cadence, sms_identity):
    email_step = cadence.steps.get(order=1)
    with pytest.raises(ValidationFailed) as caught:
        cadences.step_update(step=email_step, changes={"type": "sms"})
    assert "params_template.subject" in caught.value.fields  # an email template on an SMS step
    updated = cadences.step_update(step=email_step, changes={"day": 2, "name": "Opener"})
    assert (updated.day, updated.name) == (2, "Opener")


def test_a_step_an_active_enrollment_is_on_cannot_be_deleted(workspace, actor, cadence, ada):
    enrollment = enroll(workspace, actor, cadence, ada)
    with pytest.raises(Conflict) as caught:
        cadences.step_delete(step=enrollment.current_step)
    assert caught.value.code == "step_in_use"
    cadences.step_delete(step=cadence.steps.get(order=3))  # not current: fine
    assert list(cadence.steps.values_list("order", flat=True)) == [1, 2]


def test_a_personal_cadence_needs_an_owner(workspace):
    with pytest.raises(ValidationFailed) as caught:
        cadences.cadence_create(
            workspace=workspace, actor=Actor.system("t"), name="Mine", sharing="personal"
        )
    assert set(caught.value.fields) == {"sharing"}


# --- Demo -----------------------------------------------------------------------------
def test_seed_demo_enrolls_a_demo_contact_on_a_three_step_cadence_once(settings, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from outreach.models import Cadence

    settings.DATA_DIR = tmp_path
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    cadence = Cadence.objects.get()
    assert cadence.name == "Demo: 3-touch follow-up"
    assert list(cadence.steps.values_list("day", "type")) == [
        (1, "email"),
        (2, "sms"),
        (3, "phone"),
    ]
    enrollment = Enrollment.objects.get()
    assert (enrollment.contact.email, enrollment.state) == ("john.smith@example.com", "active")
    action = enrollment.actions.get()
    assert (action.type, action.status) == ("send_email", ActionStatus.SCHEDULED)
    assert action.params["subject"] == "Quick question, John"
    assert action.identity.public_id == "id_123"


# --- Races (PostgreSQL: row locks) ------------------------------------------------------
def _race(*targets) -> list[str]:
    """Run the callables at once; each outcome is its return value or error code."""
    barrier = threading.Barrier(len(targets))
    outcomes: list[str] = []

    def run(target):
        try:
            barrier.wait()
            outcomes.append(target())
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_two_advances_at_once_schedule_the_next_step_once(workspace, actor, ada, email_identity):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Tasks")
    for n in range(3):
        cadences.step_create(cadence=cadence, type="other", params_template={"title": f"T{n}"})
    for _ in range(5):
        enrollment = enroll(workspace, actor, cadence, ada)
        first = open_action(enrollment)
        # Completed behind the service's back, so both calls see it un-advanced.
        Action.objects.filter(pk=first.pk).update(status=ActionStatus.COMPLETED)
        first.refresh_from_db()
        _race(
            lambda first=first: cadences.enrollment_advance(action=first) and "ok",
            lambda first=first: cadences.enrollment_advance(action=first) and "ok",
        )
        assert enrollment.actions.filter(step__order=2).count() == 1
        cadences.enrollment_stop(enrollment=enrollment, reason="manual", actor=actor)


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_a_stop_racing_a_step_completion_leaves_nothing_open(workspace, actor, ada, email_identity):
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Tasks")
    for n in range(3):
        cadences.step_create(cadence=cadence, type="other", params_template={"title": f"T{n}"})
    for _ in range(10):
        enrollment = enroll(workspace, actor, cadence, ada)
        task = open_action(enrollment)
        outcomes = _race(
            lambda task=task: services.action_complete_task(action=task, actor=actor) and "done",
            lambda: len(
                cadences.enrollments_stop_for_contact(contact=ada, reason="replied", actor=actor)
            ),
        )
        assert sorted(map(str, outcomes)) in (["1", "done"], ["1", "invalid_transition"])
        enrollment.refresh_from_db()
        assert (enrollment.state, enrollment.stop_reason) == ("stopped", "replied")
        assert not enrollment.actions.filter(status__in=["pending_approval", "scheduled"]).exists()


@pytest.mark.django_db(transaction=True)
@postgres_only
def test_enrolling_the_same_contact_twice_at_once_makes_one_enrollment(
    workspace, actor, cadence, ada
):
    outcomes = _race(
        lambda: enroll(workspace, actor, cadence, ada) and "enrolled",
        lambda: enroll(workspace, actor, cadence, ada) and "enrolled",
    )
    assert sorted(outcomes) == ["already_enrolled", "enrolled"]
    assert Enrollment.objects.count() == 1
    assert Action.objects.count() == 1
