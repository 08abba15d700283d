from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from accounts.models import Scope
from outreach.models import Action, ActionStatus, ActionTransition, Identity

pytestmark = pytest.mark.django_db

SEED_EXAMPLE = """{
"type": "send_email",
"params": {
"to": "contact@example.com",
"subject": "Hello",
"body": "Hi there!"
},
"identity_id": "id_123",
"require_approval": true
}"""


@pytest.fixture
def id_123(email_identity):
    Identity.objects.filter(pk=email_identity.pk).update(public_id="id_123")
    email_identity.refresh_from_db()
    return email_identity


def test_the_seeds_curl_example_verbatim(owner_client, id_123):
    response = owner_client.post("/v1/actions", data=SEED_EXAMPLE, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert re.fullmatch(r"act_[0-9a-f]{16}", body["action_id"])
    assert body["action_summary"] == "Email to contact@example.com scheduled, awaiting approval"
    action = Action.objects.get(public_id=body["action_id"])
    assert action.status == ActionStatus.PENDING_APPROVAL
    assert action.params == {"to": "contact@example.com", "subject": "Hello", "body": "Hi there!"}
    assert action.identity == id_123
    assert body["action"]["status"] == "pending_approval"


def test_without_approval_it_is_scheduled_due_now(owner_client, email_identity):
    before = timezone.now()
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "Ada@Example.COM", "subject": "Hi", "body": "Hello"},
            "list_id": "list-7",
            "item_id": "item-9",
            "description": "first touch",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["action_summary"] == "Email to Ada@example.com scheduled"
    action = Action.objects.get()
    assert action.status == ActionStatus.SCHEDULED
    assert action.scheduled_time >= before
    assert (action.list_id, action.item_id, action.description) == (
        "list-7",
        "item-9",
        "first touch",
    )
    assert action.params["to"] == "Ada@example.com"  # domain normalised
    transition = ActionTransition.objects.get(action=action)
    assert (transition.from_status, transition.to_status) == ("", "scheduled")
    assert transition.actor_label.startswith("api:key_")


def test_a_future_scheduled_time_is_kept_in_utc(owner_client, email_identity):
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "a@example.com", "subject": "Hi", "body": "Hello"},
            "scheduled_time": "2030-01-15T18:00:00+02:00",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["action"]["scheduled_time"] == "2030-01-15T16:00:00Z"


def test_direct_is_due_now_even_with_a_future_time(owner_client, email_identity):
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "a@example.com", "subject": "Hi", "body": "Hello"},
            "scheduled_time": "2030-01-15T18:00:00Z",
            "direct": True,
        },
        format="json",
    )
    assert response.status_code == 201
    assert Action.objects.get().scheduled_time <= timezone.now()


def test_it_names_every_bad_field_at_once(owner_client, email_identity):
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "not-an-email", "body": "x", "recipient": "typo"},
            "scheduled_time": "2030-01-15T18:00:00",
            "require_approval": "perhaps",
        },
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {
        "params.to",
        "params.subject",
        "params.recipient",
        "scheduled_time",
        "require_approval",
    }
    assert fields["scheduled_time"] == ["Must include a timezone offset (e.g. Z or +02:00)."]
    assert not Action.objects.exists()


def test_an_unknown_type_lists_the_valid_ones(owner_client, email_identity):
    response = owner_client.post(
        "/v1/actions",
        {"type": "send_fax", "identity_id": email_identity.public_id, "params": {}},
        format="json",
    )
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["type"][0]
    for valid in [
        "send_email",
        "email_message",
        "linkedin_message",
        "send_sms",
        "call_contact",
        "update_lifecycle_stage",
        "task",
    ]:
        assert valid in message


def test_required_fields_are_named(owner_client):
    response = owner_client.post("/v1/actions", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"type", "params", "identity_id"}


def test_the_identity_must_fit_the_type(owner_client, email_identity):
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_sms",
            "identity_id": email_identity.public_id,
            "params": {"recipient_phone": "+14155551234", "message": "hi"},
        },
        format="json",
    )
    assert response.status_code == 400
    assert "needs a sms identity" in response.json()["error"]["fields"]["identity_id"][0]


def test_a_deactivated_identity_is_refused(owner_client, email_identity):
    Identity.objects.filter(pk=email_identity.pk).update(is_active=False)
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "a@example.com", "subject": "s", "body": "b"},
        },
        format="json",
    )
    assert response.status_code == 400
    assert "deactivated" in response.json()["error"]["fields"]["identity_id"][0]


def test_it_rejects_a_cross_workspace_identity(outsider_client, email_identity):
    response = outsider_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "a@example.com", "subject": "s", "body": "b"},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["identity_id"] == [
        f"No identity {email_identity.public_id!r} in this workspace."
    ]
    assert not Action.objects.exists()


@pytest.mark.parametrize(
    ("action_type", "channel", "address", "params", "bad"),
    [
        (
            "send_sms",
            "sms",
            "+14155550100",
            {"recipient_phone": "4155551234", "message": "m"},
            {"params.recipient_phone"},
        ),
        (
            "send_sms",
            "sms",
            "+14155550100",
            {"recipient_phone": "+1415555", "message": ""},
            {"params.recipient_phone", "params.message"},
        ),
        (
            "call_contact",
            "phone",
            "+14155550101",
            {"recipient_phone": "+999"},
            {"params.recipient_phone"},
        ),
        (
            "linkedin_message",
            "linkedin",
            "https://www.linkedin.com/in/me",
            {"profile_url": "https://example.com/in/jane", "message": "hi"},
            {"params.profile_url"},
        ),
        ("email_message", "email", "me@acme.example.com", {"body": "b"}, {"params.thread_id"}),
        (
            "update_lifecycle_stage",
            "email",
            "me@acme.example.com",
            {"contact_id": "c_1", "stage": "champion"},
            {"params.stage", "params.reason"},
        ),
        ("task", "email", "me@acme.example.com", {"note": "n"}, {"params.title"}),
    ],
)
def test_params_are_validated_per_type(
    owner_client, workspace, action_type, channel, address, params, bad
):
    from outreach.services import identity_create

    identity = identity_create(workspace=workspace, channel=channel, address=address)
    response = owner_client.post(
        "/v1/actions",
        {"type": action_type, "identity_id": identity.public_id, "params": params},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == bad


@pytest.mark.parametrize(
    ("action_type", "channel", "address", "params", "stored"),
    [
        (
            "send_sms",
            "sms",
            "+14155550100",
            {
                "recipient_phone": "+1 (415) 555-1234",
                "message": "Your appointment is in 1 hour!",
                "recipient_name": "John Smith",
            },
            {
                "recipient_phone": "+14155551234",
                "message": "Your appointment is in 1 hour!",
                "recipient_name": "John Smith",
            },
        ),
        (
            "linkedin_message",
            "linkedin",
            "https://www.linkedin.com/in/me",
            {"profile_url": "http://linkedin.com/in/jane-doe", "message": "hi"},
            {"profile_url": "https://linkedin.com/in/jane-doe", "message": "hi"},
        ),
        (
            "send_email",
            "email",
            "me@acme.example.com",
            {
                "to": "a@example.com",
                "subject": "s",
                "body": "b",
                "cc": "b@example.com, c@example.com",
            },
            {
                "to": "a@example.com",
                "subject": "s",
                "body": "b",
                "cc": ["b@example.com", "c@example.com"],
            },
        ),
        ("task", "sms", "+14155550100", {"title": "Call back"}, {"title": "Call back"}),
    ],
)
def test_params_are_normalised(
    owner_client, workspace, action_type, channel, address, params, stored
):
    from outreach.services import identity_create

    identity = identity_create(workspace=workspace, channel=channel, address=address)
    response = owner_client.post(
        "/v1/actions",
        {"type": action_type, "identity_id": identity.public_id, "params": params},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert Action.objects.get().params == stored


def test_creating_needs_the_write_scope(client_for, owner, workspace, email_identity):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ, Scope.ACTIONS_APPROVE])
    response = client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "a@example.com", "subject": "s", "body": "b"},
        },
        format="json",
    )
    assert response.status_code == 403
    assert "actions:write" in response.json()["error"]["message"]


def test_malformed_json_writes_nothing(owner_client):
    response = owner_client.post("/v1/actions", data='{"type": ', content_type="application/json")
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["code"] == "malformed_request"
    assert not Action.objects.exists()


# --- bad input (issue 11) ---------------------------------------------------------
@pytest.mark.parametrize("body", ["[]", "[1, 2]", '"send_email"', "42", "true", "false", "null"])
def test_a_body_that_is_not_an_object_is_a_400(owner_client, body):
    response = owner_client.post("/v1/actions", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"non_field_errors": ["Expected a JSON object."]}
    assert not Action.objects.exists()


@pytest.mark.parametrize("offset", ["-16:00", "+16:00", "+20:30"])
def test_a_scheduled_time_offset_beyond_15_59_is_a_400(owner_client, email_identity, offset):
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "ada@example.com", "subject": "Hi", "body": "Hello"},
            "scheduled_time": f"2030-01-01T00:00:00{offset}",
        },
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["scheduled_time"]
    assert not Action.objects.exists()


def test_a_scheduled_time_at_15_59_is_stored_in_utc(owner_client, email_identity):
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "ada@example.com", "subject": "Hi", "body": "Hello"},
            "scheduled_time": "2030-01-01T00:00:00-15:59",
        },
        format="json",
    )
    assert response.status_code == 201
    assert Action.objects.get().scheduled_time.isoformat() == "2030-01-01T15:59:00+00:00"


def test_a_nul_in_a_param_is_a_400_naming_it(owner_client, email_identity):
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "ada@example.com", "subject": "Hi\u0000", "body": "Hello"},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "params.subject": ["Null characters are not allowed."]
    }
