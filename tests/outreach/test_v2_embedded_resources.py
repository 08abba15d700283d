"""Every `_href` an action record carries resolves on this service: /v2/users,
/v2/people, /v2/cadences, /v2/steps, /v2/tasks and /v2/action_details."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from accounts.models import Membership, Scope
from outreach.models import ActionStatus, CadenceSharing
from tests.factories import make_cadence

pytestmark = pytest.mark.django_db

EMBEDDED = ("action_details", "user", "person", "cadence", "step", "task")


def path_of(href: str) -> str:
    parts = urlsplit(href)
    assert parts.scheme == "http" and parts.netloc == "testserver"
    return parts.path


@pytest.fixture
def full_set(act, workspace, owner, make_contact):
    """Cadence actions of every kind, a task and a one-off action."""
    cadence, email, call = make_cadence(workspace, owner)
    contact = make_contact("pat@example.com", firstname="Pat", lastname="Lee", jobtitle="CTO")
    return [
        act(cadence=cadence, step=email, contact=contact),
        act(
            cadence=cadence, step=call, contact=contact, type="call_contact", multitouch_group_id=7
        ),
        act(type="task", contact=contact),
        act(type="send_sms", owner=None),
    ]


def test_every_href_of_every_record_resolves(owner_client, full_set):
    records = owner_client.get("/v2/actions").json()["data"]
    assert len(records) == 4
    seen = set()
    for record in records:
        for name in EMBEDDED:
            if name not in record:
                continue
            embedded = record[name]
            path = path_of(embedded["_href"])
            for suffix in ("", ".json"):
                response = owner_client.get(f"{path}{suffix}")
                assert response.status_code == 200, (path, response.content)
                body = response.json()
                assert set(body) == {"data"}
                assert body["data"]["id"] == embedded["id"]
            seen.add(name)
    assert seen == set(EMBEDDED)


def test_user_record(owner_client, owner, workspace):
    owner.first_name, owner.last_name = "Alice", "Admin"
    owner.save()
    guid = Membership.objects.get(workspace=workspace, user=owner).guid
    body = owner_client.get(f"/v2/users/{owner.id}.json").json()
    assert body == {
        "data": {
            "id": owner.id,
            "guid": str(guid),
            "name": "Alice Admin",
            "email": "alice@example.org",
        }
    }


def test_person_record(owner_client, make_contact):
    contact = make_contact("pat@example.com", firstname="Pat", lastname="Lee", jobtitle="CTO")
    data = owner_client.get(f"/v2/people/{contact.id}").json()["data"]
    assert data == {
        "id": contact.id,
        "first_name": "Pat",
        "last_name": "Lee",
        "email_address": "pat@example.com",
        "phone": "",
        "title": "CTO",
        "created_at": contact.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "updated_at": contact.updated_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


def test_cadence_and_step_records(owner_client, workspace, owner):
    cadence, email, call = make_cadence(workspace, owner)
    data = owner_client.get(f"/v2/cadences/{cadence.id}").json()["data"]
    assert {k: data[k] for k in ("id", "name", "team_cadence", "shared", "active")} == {
        "id": cadence.id,
        "name": "Outbound",
        "team_cadence": True,
        "shared": True,
        "active": True,
    }
    assert data["archived_at"] is None
    assert data["owner"] == {"id": owner.id, "_href": f"http://testserver/v2/users/{owner.id}"}
    assert owner_client.get(path_of(data["owner"]["_href"])).status_code == 200
    cadence.is_active = False
    cadence.save()
    assert owner_client.get(f"/v2/cadences/{cadence.id}").json()["data"]["archived_at"]

    step = owner_client.get(f"/v2/steps/{call.id}.json").json()["data"]
    assert step == {
        "id": call.id,
        "name": "Phone call",
        "display_name": "Day 3: Step 2 - Phone call",
        "day": 3,
        "step_number": 2,
        "type": "phone",
        "multitouch_enabled": True,
        "cadence": {"id": cadence.id, "_href": f"http://testserver/v2/cadences/{cadence.id}"},
        "created_at": call.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "updated_at": call.updated_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    first = owner_client.get(f"/v2/steps/{email.id}").json()["data"]
    assert (first["name"], first["type"], first["multitouch_enabled"]) == ("Intro", "email", False)


def test_sms_and_linkedin_steps_are_other(owner_client, workspace, owner):
    from outreach.models import Step

    cadence, _, _ = make_cadence(workspace, owner)
    sms = Step.objects.create(workspace=workspace, cadence=cadence, order=3, day=4, type="sms")
    assert owner_client.get(f"/v2/steps/{sms.id}").json()["data"]["type"] == "other"


def test_a_personal_cadence_is_its_owner_s_and_the_admins(
    owner_client, member_client, client_for, workspace, owner, member
):
    mine, my_step, _ = make_cadence(workspace, member, sharing=CadenceSharing.PERSONAL)
    theirs, their_step, _ = make_cadence(workspace, owner, name="Private", sharing="personal")
    team, team_step, _ = make_cadence(workspace, owner, name="Team")
    assert member_client.get(f"/v2/cadences/{mine.id}").status_code == 200
    assert member_client.get(f"/v2/steps/{my_step.id}").status_code == 200
    assert member_client.get(f"/v2/cadences/{team.id}").status_code == 200
    assert member_client.get(f"/v2/steps/{team_step.id}").status_code == 200
    assert member_client.get(f"/v2/cadences/{theirs.id}").status_code == 404
    assert member_client.get(f"/v2/steps/{their_step.id}.json").status_code == 404
    data = owner_client.get(f"/v2/cadences/{mine.id}").json()["data"]
    assert (data["team_cadence"], data["shared"]) == (False, False)
    assert owner_client.get(f"/v2/steps/{my_step.id}").status_code == 200


def test_task_record(owner_client, act, make_contact, owner):
    contact = make_contact("pat@example.com")
    due = datetime(2030, 3, 1, 23, 30, tzinfo=UTC)  # 2 March in Amsterdam
    task = act(type="task", contact=contact, scheduled_time=due)
    data = owner_client.get(f"/v2/tasks/{task.id}").json()["data"]
    assert data == {
        "id": task.id,
        "subject": "Research Pat",
        "description": "Look at the website",
        "task_type": "general",
        "current_state": "scheduled",
        "due_date": "2030-03-02",
        "due_at": "2030-03-01T23:30:00.000000+00:00",
        "completed_at": None,
        "user": {"id": owner.id, "_href": f"http://testserver/v2/users/{owner.id}"},
        "person": {"id": contact.id, "_href": f"http://testserver/v2/people/{contact.id}"},
        "created_at": task.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "updated_at": task.updated_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }


def test_a_task_outlives_its_execution(owner_client, act):
    done = act(type="task", status=ActionStatus.COMPLETED, executed_at=timezone.now())
    cancelled = act(type="task", status=ActionStatus.REJECTED)
    data = owner_client.get(f"/v2/tasks/{done.id}").json()["data"]
    assert data["current_state"] == "completed" and data["completed_at"]
    assert owner_client.get(f"/v2/tasks/{cancelled.id}").json()["data"]["current_state"] == (
        "cancelled"
    )
    # ... while the action itself is gone from /v2/actions.
    assert owner_client.get(f"/v2/actions/{done.id}").status_code == 404


def test_only_task_actions_are_tasks(owner_client, act):
    email = act()
    assert owner_client.get(f"/v2/tasks/{email.id}").status_code == 404


@pytest.mark.parametrize(
    ("kind", "our_type", "extra"),
    [
        ("email", "send_email", {"subject": "Hello"}),
        ("email", "email_message", {"subject": ""}),
        ("call_instructions", "call_contact", {"instructions": "Say hi"}),
        ("other", "send_sms", {}),
        ("other", "task", {}),
    ],
)
def test_action_details(owner_client, act, kind, our_type, extra):
    action = act(type=our_type)
    response = owner_client.get(f"/v2/action_details/{kind}/{action.id}.json")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == action.id
    assert data["kind"] == kind and data["action_type"] == our_type
    assert data["summary"]
    for key, value in extra.items():
        assert data[key] == value
    for wrong in {"email", "call_instructions", "other", "bogus"} - {kind}:
        assert owner_client.get(f"/v2/action_details/{wrong}/{action.id}").status_code == 404


def test_another_workspace_s_resources_are_404s(outsider_client, full_set, owner, workspace):
    cadence_action, call_action, task, _ = full_set
    for path in (
        f"/v2/users/{owner.id}",
        f"/v2/people/{cadence_action.contact_id}",
        f"/v2/cadences/{cadence_action.cadence_id}",
        f"/v2/steps/{call_action.step_id}",
        f"/v2/tasks/{task.id}",
        f"/v2/action_details/email/{cadence_action.id}",
        f"/v2/action_details/call_instructions/{call_action.id}.json",
    ):
        response = outsider_client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"


def test_a_member_reads_its_own_tasks_and_details_only(member_client, act, member):
    mine = act(type="task", owner=member)
    theirs = act(type="task")
    assert member_client.get(f"/v2/tasks/{mine.id}").status_code == 200
    assert member_client.get(f"/v2/tasks/{theirs.id}").status_code == 404
    assert member_client.get(f"/v2/action_details/other/{mine.id}").status_code == 200
    assert member_client.get(f"/v2/action_details/other/{theirs.id}").status_code == 404


def test_unknown_ids_and_huge_ids_are_404s(owner_client):
    for path in (
        "/v2/users/999999",
        "/v2/people/999999",
        "/v2/cadences/999999",
        "/v2/steps/999999",
        "/v2/tasks/999999",
        "/v2/action_details/email/999999",
        "/v2/people/99999999999999999999999",
        "/v2/users/abc",
    ):
        assert owner_client.get(path).status_code == 404, path


def test_resources_need_the_read_scope(client, client_for, owner, workspace):
    writer = client_for(owner, workspace, [Scope.CONTACTS_READ])
    assert writer.get(f"/v2/users/{owner.id}").status_code == 403
    assert client.get(f"/v2/users/{owner.id}").status_code == 401


def test_an_action_created_on_v1_shows_with_links_that_resolve(
    owner_client, email_identity, make_contact
):
    contact = make_contact("contact@example.com")
    created = owner_client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": email_identity.public_id,
            "params": {"to": "contact@example.com", "subject": "Hi", "body": "Hello"},
            "require_approval": True,
            "scheduled_time": (timezone.now() + timedelta(hours=1)).isoformat(),
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    (record,) = owner_client.get("/v2/actions").json()["data"]
    assert record["status"] == "in_progress" and record["type"] == "email"
    assert record["person"]["id"] == contact.id  # linked by the recipient's email
    assert "cadence" not in record and "step" not in record and "task" not in record
    for name in EMBEDDED:
        if name in record:
            assert owner_client.get(path_of(record[name]["_href"])).status_code == 200
