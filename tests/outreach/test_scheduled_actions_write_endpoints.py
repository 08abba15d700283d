"""POST /functions/v1/scheduled-actions, GET and DELETE /{id}, POST /{id}/cancel
(the Magpipe facade, seed 003, and what its users expect next to the list)."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Scope
from outreach import services
from outreach.models import Action, ActionStatus, ActionTransition, Identity

pytestmark = pytest.mark.django_db

URL = "/functions/v1/scheduled-actions"
SMS = {"recipient_phone": "+14155551234", "message": "Your appointment is in 1 hour!"}
CALL = {"recipient_phone": "+14155559876", "recipient_name": "Ann", "script": "Hello Ann"}


def at(text: str):
    return parse_datetime(text)


@pytest.fixture
def phone_identity(workspace, owner):
    return services.identity_create(
        workspace=workspace, channel="phone", address="+14155550101", owner=owner
    )


@pytest.fixture
def make_sms(make_action, sms_identity):
    def make(**overrides):
        fields = {"require_approval": False, "scheduled_time": at("2026-01-15T18:00:00Z")}
        fields.update(overrides)
        return make_action(type="send_sms", identity=sms_identity, params=dict(SMS), **fields)

    return make


def schedule(client, body=None, **headers):
    payload = {"action_type": "send_sms", "scheduled_at": "2026-01-15T18:00:00Z", "parameters": SMS}
    if body is not None:
        payload = body
    return client.post(URL, payload, format="json", **headers)


def set_state(action: Action, **fields) -> Action:
    Action.objects.filter(pk=action.pk).update(**fields)
    action.refresh_from_db()
    return action


def assert_error(response, status: int, fields: set[str] | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "code", "fields"}
    if fields is not None:
        assert set(body["fields"]) == fields, body
    return body


# --- POST: schedule ---------------------------------------------------------------
def test_it_schedules_an_sms(owner_client, owner, sms_identity):
    response = schedule(owner_client)
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    action = Action.objects.get()
    assert response.json() == {
        "data": {
            "id": str(action.uuid),
            "action_type": "send_sms",
            "scheduled_at": "2026-01-15T18:00:00.000Z",
            "status": "pending",
            "parameters": SMS,
            "created_at": data["created_at"],
            "executed_at": None,
            "error_message": None,
            "retry_count": 0,
        }
    }
    assert (action.type, action.status, action.params) == ("send_sms", "scheduled", SMS)
    assert action.identity == sms_identity and action.owner == owner
    assert action.scheduled_time == at("2026-01-15T18:00:00Z")
    # Written through the service: the creation is in the audit trail.
    assert ActionTransition.objects.filter(action=action, to_status="scheduled").exists()


def test_it_schedules_a_call_with_the_phone_identity(owner_client, phone_identity, sms_identity):
    response = schedule(
        owner_client,
        {
            "action_type": "call_contact",
            "scheduled_at": "2026-01-15T20:00:00+02:00",
            "parameters": CALL,
        },
    )
    assert response.status_code == 201, response.content
    assert response.json()["data"]["scheduled_at"] == "2026-01-15T18:00:00.000Z"
    assert Action.objects.get().identity == phone_identity


def test_parameters_come_back_normalised(owner_client, sms_identity):
    body = {
        "action_type": "send_sms",
        "scheduled_at": "2026-01-15T18:00:00Z",
        "parameters": {"recipient_phone": " +1 (415) 555-1234 ", "message": "Hi"},
    }
    response = schedule(owner_client, body)
    assert response.status_code == 201
    assert response.json()["data"]["parameters"]["recipient_phone"] == "+14155551234"


def test_require_approval_waits_for_a_reviewer_but_reads_pending(owner_client, sms_identity):
    body = {
        "action_type": "send_sms",
        "scheduled_at": "2026-01-15T18:00:00Z",
        "parameters": SMS,
        "require_approval": True,
    }
    response = schedule(owner_client, body)
    assert response.status_code == 201
    assert response.json()["data"]["status"] == "pending"
    assert Action.objects.get().status == ActionStatus.PENDING_APPROVAL


def test_the_default_identity_is_the_first_active_one_of_the_channel(
    owner_client, workspace, sms_identity
):
    services.identity_create(workspace=workspace, channel="sms", address="+14155550199")
    Identity.objects.filter(pk=sms_identity.pk).update(is_active=False)
    schedule(owner_client)
    assert Action.objects.get().identity.address == "+14155550199"


def test_an_explicit_identity_is_used(owner_client, workspace, sms_identity):
    second = services.identity_create(workspace=workspace, channel="sms", address="+14155550199")
    body = {
        "action_type": "send_sms",
        "scheduled_at": "2026-01-15T18:00:00Z",
        "parameters": SMS,
        "identity_id": second.public_id,
    }
    assert schedule(owner_client, body).status_code == 201
    assert Action.objects.get().identity == second


def test_without_an_identity_of_the_channel_it_is_a_400_naming_identity_id(
    owner_client, email_identity
):
    body = assert_error(schedule(owner_client), 400, {"identity_id"})
    assert "sms identity" in body["fields"]["identity_id"][0]
    assert Action.objects.count() == 0


@pytest.mark.parametrize("which", ["unknown", "wrong_channel", "deactivated", "elsewhere"])
def test_a_bad_identity_id_is_a_400_naming_it(
    owner_client, sms_identity, phone_identity, other_workspace, which
):
    identity_id = {
        "unknown": "id_nope",
        "wrong_channel": phone_identity.public_id,
        "deactivated": sms_identity.public_id,
        "elsewhere": services.identity_create(
            workspace=other_workspace, channel="sms", address="+14155550100"
        ).public_id,
    }[which]
    if which == "deactivated":
        services.identity_deactivate(identity=sms_identity)
    body = {
        "action_type": "send_sms",
        "scheduled_at": "2026-01-15T18:00:00Z",
        "parameters": SMS,
        "identity_id": identity_id,
    }
    assert_error(schedule(owner_client, body), 400, {"identity_id"})
    assert Action.objects.count() == 0


def test_an_empty_body_names_every_required_field(owner_client, sms_identity):
    body = assert_error(
        schedule(owner_client, {}), 400, {"action_type", "scheduled_at", "parameters"}
    )
    assert body["code"] == "invalid_request"


def test_bad_parameters_are_named_with_their_path(owner_client, sms_identity):
    body = {
        "action_type": "send_sms",
        "scheduled_at": "2026-01-15T18:00:00Z",
        "parameters": {"recipient_phone": "555-1234", "recipient": "typo"},
    }
    assert_error(
        schedule(owner_client, body),
        400,
        {"parameters.recipient_phone", "parameters.message", "parameters.recipient"},
    )


def test_call_parameters_are_checked_as_a_call(owner_client, phone_identity):
    body = {
        "action_type": "call_contact",
        "scheduled_at": "2026-01-15T18:00:00Z",
        "parameters": {"message": "calls have no message"},
    }
    assert_error(
        schedule(owner_client, body), 400, {"parameters.recipient_phone", "parameters.message"}
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scheduled_at", "2026-01-15T18:00:00"),  # naive: whose 18:00?
        ("scheduled_at", "tomorrow"),
        ("scheduled_at", None),
        ("action_type", "send_email"),  # the hub's, but not schedulable here
        ("action_type", "sms"),
        ("parameters", "hello"),
        ("require_approval", "maybe"),
        ("identity_id", 5),
    ],
)
def test_a_bad_field_is_a_400_naming_it(owner_client, sms_identity, field, value):
    body = {"action_type": "send_sms", "scheduled_at": "2026-01-15T18:00:00Z", "parameters": SMS}
    body[field] = value
    assert_error(schedule(owner_client, body), 400, {field})
    assert Action.objects.count() == 0


def test_the_naive_time_message_asks_for_an_offset(owner_client, sms_identity):
    body = {"action_type": "send_sms", "scheduled_at": "2026-01-15T18:00:00", "parameters": SMS}
    fields = schedule(owner_client, body).json()["fields"]
    assert "offset" in fields["scheduled_at"][0]


def test_every_bad_field_is_named_at_once(owner_client, sms_identity):
    body = {
        "action_type": "send_sms",
        "scheduled_at": "nope",
        "parameters": {"recipient_phone": "x", "message": "m"},
        "identity_id": "id_nope",
    }
    assert_error(
        schedule(owner_client, body),
        400,
        {"scheduled_at", "parameters.recipient_phone", "identity_id"},
    )


def test_a_body_that_is_not_an_object_is_a_400(owner_client, sms_identity):
    assert_error(owner_client.post(URL, [1, 2], format="json"), 400)


def test_malformed_json_is_400_and_non_json_is_415(owner_client, sms_identity):
    malformed = owner_client.post(URL, "{nope", content_type="application/json")
    assert assert_error(malformed, 400)["code"] == "malformed_request"
    form = owner_client.post(URL, "a=1", content_type="application/x-www-form-urlencoded")
    assert assert_error(form, 415)["code"] == "unsupported_media_type"


def test_a_past_time_is_kept_and_due_at_once(owner_client, sms_identity):
    body = {"action_type": "send_sms", "scheduled_at": "2020-01-01T00:00:00Z", "parameters": SMS}
    response = schedule(owner_client, body)
    assert response.status_code == 201
    assert response.json()["data"]["scheduled_at"] == "2020-01-01T00:00:00.000Z"
    action = Action.objects.get()
    assert action.status == ActionStatus.SCHEDULED and action.scheduled_time <= timezone.now()


def test_the_same_idempotency_key_replays_the_first_response(owner_client, sms_identity):
    first = schedule(owner_client, HTTP_IDEMPOTENCY_KEY="magpipe-1")
    second = schedule(owner_client, HTTP_IDEMPOTENCY_KEY="magpipe-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Action.objects.count() == 1
    other = schedule(
        owner_client,
        {"action_type": "send_sms", "scheduled_at": "2026-01-16T18:00:00Z", "parameters": SMS},
        HTTP_IDEMPOTENCY_KEY="magpipe-1",
    )
    assert assert_error(other, 422)["code"] == "idempotency_key_reused"
    assert Action.objects.count() == 1


def test_scheduling_needs_the_write_scope(client_for, owner, workspace, sms_identity):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ])
    body = assert_error(schedule(client), 403)
    assert body["code"] == "missing_scope" and "actions:write" in body["error"]
    assert Action.objects.count() == 0


def test_scheduling_without_a_key_is_401(client, sms_identity):
    response = client.post(URL, {}, content_type="application/json")
    assert assert_error(response, 401)["code"] == "unauthenticated"


def test_a_scheduled_action_shows_on_v1_too(owner_client, sms_identity):
    data = schedule(owner_client).json()["data"]
    action = Action.objects.get(uuid=data["id"])
    v1 = owner_client.get(f"/v1/actions/{action.public_id}").json()["action"]
    assert (v1["type"], v1["status"], v1["params"]) == ("send_sms", "scheduled", SMS)


# --- GET one -------------------------------------------------------------------------
def test_it_reads_one(owner_client, make_sms):
    action = make_sms()
    response = owner_client.get(f"{URL}/{action.uuid}")
    assert response.status_code == 200
    assert set(response.json()) == {"data"}
    listed = owner_client.get(URL).json()["data"][0]
    assert response.json()["data"] == listed
    assert listed["id"] == str(action.uuid)


def test_the_uuid_may_be_given_in_upper_case(owner_client, make_sms):
    action = make_sms()
    response = owner_client.get(f"{URL}/{str(action.uuid).upper()}")
    assert response.json()["data"]["id"] == str(action.uuid)


@pytest.mark.parametrize("which", ["unknown", "malformed", "v1_id", "integer_id"])
def test_a_missing_or_malformed_id_is_404(owner_client, make_sms, which):
    action = make_sms()
    action_id = {
        "unknown": str(uuid.uuid4()),
        "malformed": "not-a-uuid",
        "v1_id": action.public_id,
        "integer_id": str(action.pk),
    }[which]
    for response in (
        owner_client.get(f"{URL}/{action_id}"),
        owner_client.delete(f"{URL}/{action_id}"),
        owner_client.post(f"{URL}/{action_id}/cancel"),
    ):
        assert assert_error(response, 404)["code"] == "not_found"


def test_another_workspaces_action_is_404(outsider_client, make_sms):
    action = make_sms()
    assert_error(outsider_client.get(f"{URL}/{action.uuid}"), 404)
    assert_error(outsider_client.delete(f"{URL}/{action.uuid}"), 404)
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED


def test_a_member_reads_and_cancels_only_its_own(member_client, member, make_sms):
    mine, theirs = make_sms(user=member), make_sms()
    assert member_client.get(f"{URL}/{mine.uuid}").status_code == 200
    assert_error(member_client.get(f"{URL}/{theirs.uuid}"), 404)
    assert_error(member_client.delete(f"{URL}/{theirs.uuid}"), 404)
    assert member_client.delete(f"{URL}/{mine.uuid}").status_code == 200


def test_reading_one_needs_the_read_scope(client_for, owner, workspace, make_sms):
    action = make_sms()
    client = client_for(owner, workspace, [Scope.ACTIONS_WRITE])
    assert assert_error(client.get(f"{URL}/{action.uuid}"), 403)["code"] == "missing_scope"


# --- DELETE / cancel ------------------------------------------------------------------
@pytest.mark.parametrize("require_approval", [False, True])
def test_deleting_a_pending_action_cancels_it(owner_client, make_sms, require_approval):
    action = make_sms(require_approval=require_approval)
    response = owner_client.delete(f"{URL}/{action.uuid}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["id"], data["status"]) == (str(action.uuid), "cancelled")
    action.refresh_from_db()
    assert action.status == ActionStatus.CANCELLED  # cancelled, not deleted
    transition = ActionTransition.objects.filter(action=action).latest("created_at")
    assert transition.to_status == ActionStatus.CANCELLED
    assert "scheduled-actions" in transition.reason


def test_the_cancel_alias_cancels_too(owner_client, make_sms):
    action = make_sms()
    response = owner_client.post(f"{URL}/{action.uuid}/cancel")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "cancelled"
    action.refresh_from_db()
    assert action.status == ActionStatus.CANCELLED


@pytest.mark.parametrize(
    ("status", "word"),
    [
        (ActionStatus.PROCESSING, "processing"),
        (ActionStatus.COMPLETED, "completed"),
        (ActionStatus.FAILED, "failed"),
        (ActionStatus.CANCELLED, "cancelled"),
        (ActionStatus.REJECTED, "cancelled"),
    ],
)
def test_deleting_an_action_that_is_not_pending_is_409(owner_client, make_sms, status, word):
    action = set_state(make_sms(), status=status)
    before = action.updated_at
    for response in (
        owner_client.delete(f"{URL}/{action.uuid}"),
        owner_client.post(f"{URL}/{action.uuid}/cancel"),
    ):
        body = assert_error(response, 409)
        assert body["code"] == "invalid_transition"
        assert str(action.uuid) in body["error"] and word in body["error"]
        assert "act_" not in body["error"]  # Magpipe's ids and words, not v1's
    action.refresh_from_db()
    assert (action.status, action.updated_at) == (status, before)


def test_cancelling_twice_is_409_the_second_time(owner_client, make_sms):
    action = make_sms()
    assert owner_client.delete(f"{URL}/{action.uuid}").status_code == 200
    assert assert_error(owner_client.delete(f"{URL}/{action.uuid}"), 409)["code"] == (
        "invalid_transition"
    )


def test_cancelling_needs_the_write_scope(client_for, owner, workspace, make_sms):
    action = make_sms()
    client = client_for(owner, workspace, [Scope.ACTIONS_READ])
    assert assert_error(client.delete(f"{URL}/{action.uuid}"), 403)["code"] == "missing_scope"
    assert assert_error(client.post(f"{URL}/{action.uuid}/cancel"), 403)["code"] == (
        "missing_scope"
    )
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED


def test_other_methods_are_405(owner_client, make_sms):
    action = make_sms()
    assert assert_error(owner_client.put(f"{URL}/{action.uuid}", {}), 405)["code"] == (
        "method_not_allowed"
    )
    assert assert_error(owner_client.delete(URL), 405)["code"] == "method_not_allowed"


# --- Through the real executor ----------------------------------------------------------
def test_a_scheduled_sms_runs_and_reads_completed_or_failed(owner_client, sms_identity, twilio):
    due = "2020-01-01T00:00:00Z"
    ok = schedule(
        owner_client, {"action_type": "send_sms", "scheduled_at": due, "parameters": SMS}
    ).json()["data"]
    bad = schedule(
        owner_client,
        {
            "action_type": "send_sms",
            "scheduled_at": due,
            # Twilio's magic number for an invalid 'To': a permanent error.
            "parameters": {"recipient_phone": "+15005550001", "message": "Hi"},
        },
    ).json()["data"]
    assert owner_client.post("/v1/actions/process?limit=10").status_code == 200
    assert [m.form["Body"] for m in twilio.messages] == [SMS["message"]]

    done = owner_client.get(f"{URL}/{ok['id']}").json()["data"]
    assert done["status"] == "completed"
    assert done["executed_at"] is not None and done["executed_at"].endswith("Z")
    assert done["error_message"] is None

    failed = owner_client.get(f"{URL}/{bad['id']}").json()["data"]
    assert failed["status"] == "failed"
    assert failed["executed_at"] is None
    assert "21211" in failed["error_message"] or "valid" in failed["error_message"]

    listed = owner_client.get(URL, {"status": "completed"}).json()
    assert [row["id"] for row in listed["data"]] == [ok["id"]]
    assert_error(owner_client.delete(f"{URL}/{ok['id']}"), 409)


# --- bad input (issue 11) -----------------------------------------------------------
@pytest.mark.parametrize("offset", ["-16:00", "+16:00"])
def test_a_scheduled_at_offset_beyond_15_59_is_a_400(owner_client, sms_identity, offset):
    body = {
        "action_type": "send_sms",
        "scheduled_at": f"2030-01-15T18:00:00{offset}",
        "parameters": SMS,
    }
    assert_error(schedule(owner_client, body), 400, {"scheduled_at"})
    assert not Action.objects.exists()


@pytest.mark.parametrize("body", ["[]", '"x"', "1", "true", "null"])
def test_any_top_level_value_but_an_object_is_a_400(owner_client, body):
    response = owner_client.post(URL, data=body, content_type="application/json")
    assert assert_error(response, 400, {"non_field_errors"})["fields"] == {
        "non_field_errors": ["Expected a JSON object."]
    }


def test_a_nul_in_a_parameter_is_a_400_naming_it(owner_client, sms_identity):
    body = {
        "action_type": "send_sms",
        "scheduled_at": "2030-01-15T18:00:00Z",
        "parameters": {**SMS, "message": "Hi\u0000"},
    }
    assert_error(schedule(owner_client, body), 400, {"parameters.message"})
    assert not Action.objects.exists()
