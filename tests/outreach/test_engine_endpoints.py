"""POST /v1/actions/process, /complete and /retry."""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Scope
from outreach.models import Action, ActionStatus

pytestmark = pytest.mark.django_db


def test_process_executes_this_workspaces_due_actions(
    owner_client, make_action, make_contact, email_identity, other_workspace, outsider
):
    contact = make_contact("jane@example.com", lifecyclestage="lead")
    ours = make_action(
        type="update_lifecycle_stage",
        params={"contact_id": contact.public_id, "stage": "mql", "reason": "Downloaded"},
        require_approval=False,
    )
    from accounts.actors import Actor
    from outreach.services import action_create, identity_create

    theirs_identity = identity_create(
        workspace=other_workspace, channel="email", address="x@globex.example.com"
    )
    theirs = action_create(
        workspace=other_workspace,
        actor=Actor.for_user(outsider),
        type="task",
        params={"title": "t"},
        identity=theirs_identity,
    )
    response = owner_client.post("/v1/actions/process?limit=10")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "success",
        "processed": 1,
        "results": [{"action_id": ours.public_id, "result": "completed", "error": None}],
    }
    ours.refresh_from_db()
    assert ours.status == ActionStatus.COMPLETED
    theirs.refresh_from_db()
    assert theirs.status == ActionStatus.SCHEDULED
    detail = owner_client.get(f"/v1/actions/{ours.public_id}").json()["action"]
    assert detail["executed_at"] is not None
    assert [a["outcome"] for a in detail["attempts"]] == ["completed"]


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_process_validates_the_limit(owner_client, limit):
    response = owner_client.post(f"/v1/actions/process?limit={limit}")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"limit"}


def test_process_needs_the_write_scope(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ, Scope.ACTIONS_APPROVE])
    assert client.post("/v1/actions/process").status_code == 403


def test_a_task_is_completed_by_a_person(owner_client, make_action):
    task = make_action(type="task", params={"title": "Call Ada"}, require_approval=False)
    response = owner_client.post(
        f"/v1/actions/{task.public_id}/complete", {"note": "done"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["action"]["status"] == "completed"
    task.refresh_from_db()
    assert task.executed_at is not None
    assert task.transitions.last().reason == "completed: done"
    assert owner_client.post(f"/v1/actions/{task.public_id}/complete").status_code == 409


def test_only_tasks_are_completed_by_hand(owner_client, make_action):
    email = make_action(require_approval=False)
    response = owner_client.post(f"/v1/actions/{email.public_id}/complete")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_a_task"


def test_a_task_awaiting_approval_cannot_be_completed(owner_client, make_action):
    task = make_action(type="task", params={"title": "Call Ada"})
    assert owner_client.post(f"/v1/actions/{task.public_id}/complete").status_code == 409


def test_retry_requeues_a_failed_action(owner_client, make_action):
    action = make_action(require_approval=False)
    Action.objects.filter(pk=action.pk).update(
        status=ActionStatus.FAILED, retry_count=5, error_message="Gave up"
    )
    response = owner_client.post(f"/v1/actions/{action.public_id}/retry")
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert (action.retry_count, action.error_message) == (0, "")
    assert action.scheduled_time <= timezone.now()
    assert owner_client.post(f"/v1/actions/{action.public_id}/retry").status_code == 409


def test_retry_and_complete_are_404_across_workspaces(outsider_client, make_action):
    action = make_action(type="task", params={"title": "t"}, require_approval=False)
    assert outsider_client.post(f"/v1/actions/{action.public_id}/retry").status_code == 404
    assert outsider_client.post(f"/v1/actions/{action.public_id}/complete").status_code == 404
