"""GET /functions/v1/scheduled-actions: the Magpipe facade's list (seed 003).

Writes (POST, GET one, DELETE, the cancel alias) are in
test_scheduled_actions_write_endpoints.py.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.actors import Actor
from accounts.models import Scope
from outreach import services
from outreach.models import Action, ActionStatus
from tests.outreach import page_plan

pytestmark = pytest.mark.django_db

URL = "/functions/v1/scheduled-actions"
RECORD_KEYS = {
    "id",
    "action_type",
    "scheduled_at",
    "status",
    "parameters",
    "created_at",
    "executed_at",
    "error_message",
    "retry_count",
}
MS_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def at(text: str) -> dt.datetime:
    return parse_datetime(text)


@pytest.fixture
def phone_identity(workspace, owner):
    return services.identity_create(
        workspace=workspace, channel="phone", address="+14155550101", owner=owner
    )


@pytest.fixture
def make_sms(make_action, sms_identity):
    def make(phone="+14155551234", message="Your appointment is in 1 hour!", **overrides):
        params = {"recipient_phone": phone, "message": message}
        if "recipient_name" in overrides:
            params["recipient_name"] = overrides.pop("recipient_name")
        fields = {"require_approval": False, "scheduled_time": at("2026-01-15T18:00:00Z")}
        fields.update(overrides)
        return make_action(type="send_sms", identity=sms_identity, params=params, **fields)

    return make


@pytest.fixture
def make_call(make_action, phone_identity):
    def make(**overrides):
        fields = {"require_approval": False, "scheduled_time": at("2026-01-15T18:00:00Z")}
        fields.update(overrides)
        return make_action(
            type="call_contact",
            identity=phone_identity,
            params={"recipient_phone": "+14155559876", "recipient_name": "Ann"},
            **fields,
        )

    return make


def set_state(action: Action, **fields) -> Action:
    """Final and in-flight states belong to the worker; set them directly."""
    Action.objects.filter(pk=action.pk).update(**fields)
    action.refresh_from_db()
    return action


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["data"]]


# --- Envelope and record ------------------------------------------------------
def test_it_lists_in_the_seeds_envelope(owner_client, make_sms):
    later = make_sms(
        phone="+14155555678",
        message="Follow-up: How was your experience?",
        recipient_name="Jane Doe",
        scheduled_time=at("2026-01-16T09:00:00Z"),
    )
    first = make_sms(recipient_name="John Smith", scheduled_time=at("2026-01-15T18:00:00Z"))
    response = owner_client.get(URL, {"status": "pending"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "total"}
    assert body["total"] == 2
    assert [row["id"] for row in body["data"]] == [str(first.uuid), str(later.uuid)]
    row = body["data"][0]
    assert set(row) == RECORD_KEYS
    assert row == {
        "id": str(first.uuid),
        "action_type": "send_sms",
        "scheduled_at": "2026-01-15T18:00:00.000Z",
        "status": "pending",
        "parameters": {
            "recipient_phone": "+14155551234",
            "message": "Your appointment is in 1 hour!",
            "recipient_name": "John Smith",
        },
        "created_at": row["created_at"],
        "executed_at": None,
        "error_message": None,
        "retry_count": 0,
    }
    assert MS_Z.match(row["created_at"])
    created = parse_datetime(row["created_at"])
    assert abs(created - first.created_at) < dt.timedelta(milliseconds=1)


def test_times_are_utc_with_milliseconds_and_z(owner_client, make_sms):
    # +02:00 converted to UTC; microseconds truncated (not rounded) to milliseconds.
    action = make_sms(scheduled_time=at("2026-07-01T10:30:05.123987+02:00"))
    set_state(action, created_at=at("2026-01-14T12:00:00.000999Z"))
    row = owner_client.get(URL).json()["data"][0]
    assert row["scheduled_at"] == "2026-07-01T08:30:05.123Z"
    assert row["created_at"] == "2026-01-14T12:00:00.000Z"


def test_the_uuid_is_a_plain_lowercase_uuid_distinct_from_the_v1_id(owner_client, make_sms):
    action = make_sms()
    row = owner_client.get(URL).json()["data"][0]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", row["id"])
    assert row["id"] == str(action.uuid) != action.public_id


def test_it_orders_by_scheduled_at_then_creation(owner_client, make_sms, make_call):
    late = make_sms(scheduled_time=at("2026-03-01T00:00:00Z"))
    tie_first = make_call(scheduled_time=at("2026-02-01T00:00:00Z"))
    tie_second = make_sms(scheduled_time=at("2026-02-01T00:00:00Z"))
    early = make_call(scheduled_time=at("2026-01-01T00:00:00Z"))
    assert ids(owner_client.get(URL)) == [
        str(early.uuid),
        str(tie_first.uuid),
        str(tie_second.uuid),
        str(late.uuid),
    ]


def test_an_empty_workspace_lists_nothing(owner_client):
    assert owner_client.get(URL).json() == {"data": [], "total": 0}


# --- Status words ---------------------------------------------------------------
@pytest.fixture
def one_of_each_status(make_sms):
    """An action in each of our seven statuses, made through the services where a
    service makes them (approval, rejection, cancel) and set directly otherwise."""
    system = Actor.system("test")
    made = {
        ActionStatus.PENDING_APPROVAL: make_sms(require_approval=True),
        ActionStatus.SCHEDULED: make_sms(),
    }
    made[ActionStatus.REJECTED] = services.action_decide(
        action=make_sms(require_approval=True), actor=system, decision="reject"
    )
    made[ActionStatus.CANCELLED] = services.action_cancel(action=make_sms(), actor=system)
    made[ActionStatus.PROCESSING] = set_state(make_sms(), status=ActionStatus.PROCESSING)
    made[ActionStatus.COMPLETED] = set_state(
        make_sms(), status=ActionStatus.COMPLETED, executed_at=timezone.now()
    )
    made[ActionStatus.FAILED] = set_state(
        make_sms(), status=ActionStatus.FAILED, error_message="21211: invalid 'To'"
    )
    assert {status: a.status for status, a in made.items()} == {s: s for s in made}
    return made


@pytest.mark.parametrize(
    ("word", "statuses"),
    [
        ("pending", {ActionStatus.PENDING_APPROVAL, ActionStatus.SCHEDULED}),
        ("processing", {ActionStatus.PROCESSING}),
        ("completed", {ActionStatus.COMPLETED}),
        ("failed", {ActionStatus.FAILED}),
        ("cancelled", {ActionStatus.CANCELLED, ActionStatus.REJECTED}),
    ],
)
def test_each_status_filter_maps_to_our_statuses(owner_client, one_of_each_status, word, statuses):
    response = owner_client.get(URL, {"status": word})
    expected = {str(one_of_each_status[s].uuid) for s in statuses}
    assert set(ids(response)) == expected
    assert response.json()["total"] == len(expected)
    assert {row["status"] for row in response.json()["data"]} == {word}


def test_every_action_shows_its_magpipe_status_word(owner_client, one_of_each_status):
    rows = {row["id"]: row["status"] for row in owner_client.get(URL).json()["data"]}
    assert {status: rows[str(a.uuid)] for status, a in one_of_each_status.items()} == {
        ActionStatus.PENDING_APPROVAL: "pending",
        ActionStatus.SCHEDULED: "pending",
        ActionStatus.PROCESSING: "processing",
        ActionStatus.COMPLETED: "completed",
        ActionStatus.FAILED: "failed",
        ActionStatus.CANCELLED: "cancelled",
        ActionStatus.REJECTED: "cancelled",
    }


def test_no_status_filter_lists_every_status(owner_client, one_of_each_status):
    response = owner_client.get(URL)
    assert response.json()["total"] == 7
    assert set(ids(response)) == {str(a.uuid) for a in one_of_each_status.values()}


# --- executed_at, error_message, retry_count -------------------------------------
def test_a_completed_action_has_executed_at_and_no_error(owner_client, make_sms):
    action = set_state(
        make_sms(),
        status=ActionStatus.COMPLETED,
        executed_at=at("2026-01-15T18:00:02.5Z"),
        retry_count=1,
    )
    row = owner_client.get(URL, {"status": "completed"}).json()["data"][0]
    assert row["id"] == str(action.uuid)
    assert row["executed_at"] == "2026-01-15T18:00:02.500Z"
    assert row["error_message"] is None
    assert row["retry_count"] == 1


def test_a_failed_action_has_its_error_message(owner_client, make_sms):
    set_state(
        make_sms(),
        status=ActionStatus.FAILED,
        error_message="Gave up after 6 attempts: 503",
        retry_count=6,
    )
    row = owner_client.get(URL, {"status": "failed"}).json()["data"][0]
    assert row["error_message"] == "Gave up after 6 attempts: 503"
    assert row["executed_at"] is None
    assert row["retry_count"] == 6


def test_a_retrying_action_is_pending_with_its_count_but_no_error_message(owner_client, make_sms):
    # The worker keeps the last transient error on a rescheduled action; Magpipe
    # shows error details only once the action has failed.
    set_state(make_sms(), retry_count=2, error_message="Twilio 503")
    row = owner_client.get(URL, {"status": "pending"}).json()["data"][0]
    assert (row["status"], row["retry_count"], row["error_message"]) == ("pending", 2, None)


# --- action_type ------------------------------------------------------------------
def test_it_filters_by_action_type(owner_client, make_sms, make_call, make_action):
    sms, call, email = make_sms(), make_call(), make_action()
    assert ids(owner_client.get(URL, {"action_type": "send_sms"})) == [str(sms.uuid)]
    assert ids(owner_client.get(URL, {"action_type": "call_contact"})) == [str(call.uuid)]
    # The list shows every action of the workspace (one domain, several facades),
    # so the filter accepts the hub's other types as well.
    assert ids(owner_client.get(URL, {"action_type": "send_email"})) == [str(email.uuid)]
    assert owner_client.get(URL).json()["total"] == 3


def test_status_and_action_type_combine(owner_client, make_sms, make_call):
    pending_sms = make_sms()
    make_call()
    set_state(make_sms(), status=ActionStatus.COMPLETED, executed_at=timezone.now())
    done_call = set_state(make_call(), status=ActionStatus.COMPLETED, executed_at=timezone.now())
    response = owner_client.get(URL, {"status": "pending", "action_type": "send_sms"})
    assert ids(response) == [str(pending_sms.uuid)]
    assert response.json()["total"] == 1
    response = owner_client.get(URL, {"status": "completed", "action_type": "call_contact"})
    assert ids(response) == [str(done_call.uuid)]


# --- Paging ---------------------------------------------------------------------
def test_limit_and_offset_page_and_total_ignores_them(owner_client, make_sms):
    made = [make_sms(scheduled_time=at(f"2026-01-{day:02d}T09:00:00Z")) for day in range(1, 6)]
    uuids = [str(a.uuid) for a in made]
    first = owner_client.get(URL, {"limit": 2})
    assert ids(first) == uuids[:2] and first.json()["total"] == 5
    middle = owner_client.get(URL, {"limit": 2, "offset": 2})
    assert ids(middle) == uuids[2:4] and middle.json()["total"] == 5
    last = owner_client.get(URL, {"limit": 2, "offset": 4})
    assert ids(last) == uuids[4:] and last.json()["total"] == 5
    past = owner_client.get(URL, {"limit": 2, "offset": 5})
    assert past.json() == {"data": [], "total": 5}


def test_total_counts_the_filtered_set(owner_client, make_sms, make_call):
    for _ in range(3):
        make_sms()
    make_call()
    response = owner_client.get(URL, {"action_type": "send_sms", "limit": 1})
    assert len(response.json()["data"]) == 1
    assert response.json()["total"] == 3


def test_limit_defaults_to_50_and_accepts_100(owner_client, make_sms):
    for _ in range(51):
        make_sms()
    assert len(owner_client.get(URL).json()["data"]) == 50
    assert len(owner_client.get(URL, {"limit": 100}).json()["data"]) == 51
    assert owner_client.get(URL, {"offset": 50}).json()["total"] == 51


def test_an_offset_far_past_the_end_is_an_empty_page(owner_client, make_sms):
    make_sms()
    response = owner_client.get(URL, {"offset": str(10**30)})
    assert response.json() == {"data": [], "total": 1}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("limit", "0"),
        ("limit", "-1"),
        ("limit", "101"),
        ("limit", "abc"),
        ("limit", "1.5"),
        ("offset", "-1"),
        ("offset", "x"),
        ("status", "scheduled"),  # our word, not Magpipe's
        ("status", "nope"),
        ("action_type", "sms"),
        ("action_type", "SEND_SMS"),
    ],
)
def test_bad_values_are_a_400_naming_the_parameter(owner_client, make_sms, param, value):
    make_sms()
    response = owner_client.get(URL, {param: value})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "code", "fields"}
    assert body["code"] == "invalid_request"
    assert set(body["fields"]) == {param}
    assert param in body["error"]


def test_every_bad_parameter_is_named_at_once(owner_client):
    response = owner_client.get(URL, {"status": "x", "action_type": "y", "limit": "0"})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"status", "action_type", "limit"}
    assert "send_sms" in response.json()["fields"]["action_type"][0]
    assert "pending" in response.json()["fields"]["status"][0]


# --- Visibility --------------------------------------------------------------------
def test_a_member_sees_only_its_own_actions(member_client, owner_client, make_sms, member):
    mine = make_sms(user=member)
    theirs = make_sms()
    assert ids(member_client.get(URL)) == [str(mine.uuid)]
    assert member_client.get(URL).json()["total"] == 1
    assert set(ids(owner_client.get(URL))) == {str(mine.uuid), str(theirs.uuid)}


def test_another_workspaces_actions_are_absent(outsider_client, owner_client, make_sms):
    make_sms()
    assert outsider_client.get(URL).json() == {"data": [], "total": 0}
    assert owner_client.get(URL).json()["total"] == 1


def test_a_v1_action_shows_here_under_its_uuid(owner_client, sms_identity):
    created = owner_client.post(
        "/v1/actions",
        {
            "type": "send_sms",
            "identity_id": sms_identity.public_id,
            "params": {"recipient_phone": "+14155551234", "message": "Hi"},
            "scheduled_time": "2026-01-15T18:00:00Z",
            "require_approval": True,
        },
        format="json",
    )
    assert created.status_code == 201
    action = Action.objects.get(public_id=created.json()["action_id"])
    row = owner_client.get(URL).json()["data"][0]
    assert (row["id"], row["status"], row["scheduled_at"]) == (
        str(action.uuid),
        "pending",
        "2026-01-15T18:00:00.000Z",
    )


# --- Auth and scopes -----------------------------------------------------------------
def test_no_key_is_401(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_a_bad_key_is_401(client):
    response = client.get(URL, HTTP_AUTHORIZATION="Bearer ohk_nope_nope")
    assert response.status_code == 401
    assert set(response.json()) == {"error", "code", "fields"}


def test_listing_needs_the_read_scope(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.ACTIONS_WRITE])
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert "actions:read" in response.json()["error"]
    assert client_for(owner, workspace, [Scope.ACTIONS_READ]).get(URL).status_code == 200


# --- Queries ------------------------------------------------------------------------
def test_the_list_runs_a_constant_number_of_queries(
    owner_client, make_sms, make_call, django_assert_num_queries
):
    for n in range(60):
        if n % 2:
            make_sms(message=f"m{n}")
        else:
            make_call()
    # key lookup, last-used touch, count, page
    with django_assert_num_queries(4):
        assert len(owner_client.get(URL, {"limit": 1}).json()["data"]) == 1
    with django_assert_num_queries(4):
        assert len(owner_client.get(URL, {"limit": 100}).json()["data"]) == 60
    with django_assert_num_queries(4):
        response = owner_client.get(URL, {"status": "pending", "action_type": "send_sms"})
        assert response.json()["total"] == 30


# --- the query plan ----------------------------------------------------------------
def test_the_pending_list_is_served_by_an_index(owner_client, make_sms):
    """status=pending of one workspace, next to run first: `action_pending_idx`
    (bench/facades.py measured a sort of every pending row without it)."""
    from django.db import connection

    for _ in range(3):
        make_sms()
    plan = page_plan(owner_client, URL, {"status": "pending"})
    if connection.vendor == "postgresql":
        assert "action_pending_idx" in plan, plan
        assert "Sort" not in plan, plan
    else:
        assert "USING INDEX action_" in plan, plan


# --- NUL in a filter (issue 11) -----------------------------------------------------
@pytest.mark.parametrize("name", ["status", "action_type", "limit"])
def test_a_nul_in_a_filter_is_a_400_naming_it(owner_client, name):
    response = owner_client.get(f"{URL}?{name}=%00")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [name]
