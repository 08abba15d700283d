"""Every stop reason, from the event that causes it: the enrollment stops with
the reason recorded and its pending and scheduled actions are cancelled, while
what already happened stays as it was.

The contact is on two cadences: "Reviewed" (its step awaits approval) and
"Direct" (its first email already sent, its second step scheduled)."""

from __future__ import annotations

import base64
import json

import pytest
from django.urls import reverse

from accounts.actors import Actor
from contacts import services as contact_services
from contacts.models import Contact
from contacts.unsubscribe import unsubscribe_token
from outreach.models import Action, ActionStatus, Enrollment, EnrollmentState
from outreach.services import cadences

pytestmark = pytest.mark.django_db

EMAIL = {"subject": "Hi {{ contact.firstname }}", "body": "Hello {{ contact.firstname }}!"}
SECRET = "hook:s3cret-webhook-password"
TRACKING = "/webhooks/anymail/postmark/tracking/"


@pytest.fixture(autouse=True)
def webhook_secret(settings, anymail_esp):
    anymail_esp("postmark")
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


@pytest.fixture
def actor(owner):
    return Actor.for_user(owner)


@pytest.fixture
def ada(make_contact):
    return make_contact("ada@example.com", firstname="Ada", phone="+14155550123")


@pytest.fixture
def enrolled(workspace, actor, ada, email_identity, sms_identity, owner_client):
    """(reviewed, direct) enrollments of Ada; Direct's first email is sent."""
    reviewed = cadences.cadence_create(workspace=workspace, actor=actor, name="Reviewed")
    cadences.step_create(
        cadence=reviewed, type="email", params_template=EMAIL, require_approval=True
    )
    direct = cadences.cadence_create(workspace=workspace, actor=actor, name="Direct")
    cadences.step_create(cadence=direct, type="email", params_template=EMAIL)
    cadences.step_create(cadence=direct, type="sms", day=2, params_template={"message": "Hi!"})
    first = cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=reviewed, contact=ada
    )
    second = cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=direct, contact=ada
    )
    processed = owner_client.post("/v1/actions/process").json()
    assert [r["result"] for r in processed["results"]] == ["completed"]
    assert second.actions.get(step__order=2).status == ActionStatus.SCHEDULED
    assert first.actions.get().status == ActionStatus.PENDING_APPROVAL
    return first, second


def assert_stopped(enrollments, reason: str, note_part: str = "") -> None:
    for enrollment in enrollments:
        enrollment.refresh_from_db()
        assert (enrollment.state, enrollment.stop_reason) == (EnrollmentState.STOPPED, reason)
        assert note_part in enrollment.stop_note
        assert enrollment.finished_at is not None
    reviewed, direct = enrollments
    pending = reviewed.actions.get()
    assert pending.status == ActionStatus.CANCELLED
    assert pending.transitions.last().from_status == ActionStatus.PENDING_APPROVAL
    assert pending.transitions.last().reason.startswith(f"enrollment stopped: {reason}")
    statuses = dict(direct.actions.values_list("step__order", "status"))
    assert statuses == {1: ActionStatus.COMPLETED, 2: ActionStatus.CANCELLED}
    assert not Action.objects.filter(status__in=["pending_approval", "scheduled"]).exists()


def postmark_event(
    record_type: str, kind: str, *, message_id: str, metadata=None, email="ada@example.com"
):
    return {
        "RecordType": record_type,
        "Type": kind,
        "MessageID": message_id,
        "Metadata": metadata or {},
        "Email": email,
        "Recipient": email,
        "Description": "The server was unable to deliver your message.",
        "BouncedAt": "2026-11-22T06:00:00Z",
    }


def post_tracking(client, payload, auth: str = SECRET):
    return client.post(
        TRACKING,
        json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(auth.encode()).decode(),
    )


# --- Events -----------------------------------------------------------------------------
def test_a_reply_stops_every_enrollment_of_the_contact(
    owner_client, enrolled, email_identity, ada, make_contact
):
    response = owner_client.post(
        "/v1/inbound/messages",
        {
            "from": "Ada@Example.com",
            "to": email_identity.address,
            "subject": "Re: Hi Ada",
            "body": "Sounds good, call me.",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert_stopped(enrolled, "replied", "Re: Hi Ada")


def test_a_message_from_someone_else_stops_nothing(owner_client, enrolled, email_identity):
    owner_client.post(
        "/v1/inbound/messages",
        {"from": "grace@example.com", "to": email_identity.address, "subject": "Hello"},
        format="json",
    )
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"active"}


def test_a_bounce_from_the_esp_marks_the_contact_bounced_and_stops(client, enrolled, ada):
    sent = enrolled[1].actions.get(step__order=1)
    Action.objects.filter(pk=sent.pk).update(
        provider_message_id="883953f4-6105-42a2-a16a-77a8eac79483"
    )
    response = post_tracking(
        client,
        postmark_event("Bounce", "HardBounce", message_id="883953f4-6105-42a2-a16a-77a8eac79483"),
    )
    assert response.status_code == 200
    ada.refresh_from_db()
    assert ada.bounced
    assert ada.bounced_reason.startswith("Postmark bounced")
    assert_stopped(enrolled, "bounced")


def test_a_bounce_is_matched_by_the_action_id_in_the_esps_metadata(client, enrolled, ada):
    sent = enrolled[1].actions.get(step__order=1)
    payload = postmark_event(
        "Bounce", "HardBounce", message_id="unknown-id", metadata={"action_id": sent.public_id}
    )
    assert post_tracking(client, payload).status_code == 200
    assert_stopped(enrolled, "bounced")


def test_a_spam_complaint_unsubscribes_the_contact(client, enrolled, ada):
    sent = enrolled[1].actions.get(step__order=1)
    payload = postmark_event(
        "SpamComplaint", "SpamComplaint", message_id="x", metadata={"action_id": sent.public_id}
    )
    assert post_tracking(client, payload).status_code == 200
    ada.refresh_from_db()
    assert ada.unsubscribed
    assert_stopped(enrolled, "unsubscribed")


def test_a_soft_bounce_or_an_unknown_message_changes_nothing(client, enrolled, ada):
    sent = enrolled[1].actions.get(step__order=1)
    soft = postmark_event(
        "Bounce", "SoftBounce", message_id="x", metadata={"action_id": sent.public_id}
    )
    assert post_tracking(client, soft).status_code == 200
    assert (
        post_tracking(client, postmark_event("Bounce", "HardBounce", message_id="nope")).status_code
        == 200
    )
    ada.refresh_from_db()
    assert not ada.is_suppressed
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"active"}


def test_a_bounce_of_another_recipient_is_not_the_contacts(client, enrolled, ada, make_contact):
    cc = make_contact("cc@example.com")
    sent = enrolled[1].actions.get(step__order=1)
    payload = postmark_event(
        "Bounce",
        "HardBounce",
        message_id="x",
        metadata={"action_id": sent.public_id},
        email=cc.email,
    )
    assert post_tracking(client, payload).status_code == 200
    ada.refresh_from_db()
    cc.refresh_from_db()
    assert (ada.bounced, cc.bounced) == (False, True)
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"active"}


def test_the_tracking_webhook_needs_the_secret(client, enrolled, ada):
    sent = enrolled[1].actions.get(step__order=1)
    payload = postmark_event(
        "Bounce", "HardBounce", message_id="x", metadata={"action_id": sent.public_id}
    )
    assert post_tracking(client, payload, auth="hook:guess").status_code == 400
    ada.refresh_from_db()
    assert not ada.bounced


def test_the_unsubscribe_link_stops_the_enrollments(client, enrolled, ada):
    path = reverse("unsubscribe", kwargs={"token": unsubscribe_token(ada)})
    response = client.post(path, data={"confirm": "1"})
    assert response.status_code == 200
    ada.refresh_from_db()
    assert ada.unsubscribed
    assert_stopped(enrolled, "unsubscribed", "Unsubscribe link")


def test_do_not_contact_through_the_contacts_api_stops_the_enrollments(owner_client, enrolled, ada):
    response = owner_client.put(
        f"/v1/contacts/{ada.public_id}", {"properties": {"do_not_contact": True}}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert_stopped(enrolled, "do_not_contact")


def test_do_not_contact_through_the_contacts_service_stops_the_enrollments(enrolled, ada, actor):
    contact_services.contact_suppress(
        contact=ada, flag="do_not_contact", reason="asked by phone", actor=actor
    )
    assert_stopped(enrolled, "do_not_contact", "asked by phone")


def test_lifting_a_flag_restarts_nothing(enrolled, ada, actor):
    contact_services.contact_suppress(contact=ada, flag="do_not_contact", reason="x", actor=actor)
    contact_services.contact_suppress(
        contact=ada, flag="do_not_contact", reason="", actor=actor, value=False
    )
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"stopped"}


@pytest.mark.parametrize("reason", ["meeting_booked", "manual"])
def test_a_person_stops_an_enrollment_through_the_api(owner_client, enrolled, reason):
    for enrollment in enrolled:
        response = owner_client.post(
            f"/v1/enrollments/{enrollment.pk}/stop",
            {"reason": reason, "note": "by hand"},
            format="json",
        )
        assert response.status_code == 200, response.json()
    assert_stopped(enrolled, reason, "by hand")


def test_deactivating_the_cadences_stops_them(owner_client, enrolled):
    for enrollment in enrolled:
        response = owner_client.patch(
            f"/v1/cadences/{enrollment.cadence_id}", {"is_active": False}, format="json"
        )
        assert response.status_code == 200
    assert_stopped(enrolled, "cadence_deactivated", "deactivated")


def test_a_failed_step_stops_its_enrollment_only(owner_client, enrolled, settings):
    reviewed, direct = enrolled
    sms = direct.actions.get(step__order=2)
    Action.objects.filter(pk=sms.pk).update(scheduled_time=sms.created_at)  # a day passes
    settings.TWILIO_ACCOUNT_SID = ""  # not configured: a permanent failure
    results = owner_client.post("/v1/actions/process").json()["results"]
    assert [(r["action_id"], r["result"]) for r in results] == [(sms.public_id, "failed")]
    direct.refresh_from_db()
    assert (direct.state, direct.stop_reason) == ("stopped", "step_failed")
    assert sms.public_id in direct.stop_note
    reviewed.refresh_from_db()
    assert reviewed.state == "active"
    assert reviewed.actions.get().status == ActionStatus.PENDING_APPROVAL


def test_a_stopped_contact_can_be_enrolled_again_unless_suppressed(
    owner_client, enrolled, ada, actor
):
    reviewed, _ = enrolled
    owner_client.post(f"/v1/enrollments/{reviewed.pk}/stop", {"reason": "manual"}, format="json")
    again = owner_client.post(
        f"/v1/cadences/{reviewed.cadence_id}/enrollments",
        {"contact_id": ada.public_id},
        format="json",
    )
    assert again.status_code == 201
    contact_services.contact_suppress(contact=ada, flag="bounced", reason="550", actor=actor)
    assert not Enrollment.objects.filter(state="active").exists()
    refused = owner_client.post(
        f"/v1/cadences/{reviewed.cadence_id}/enrollments",
        {"contact_id": ada.public_id},
        format="json",
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "contact_suppressed"
    assert Contact.objects.get(pk=ada.pk).bounced
