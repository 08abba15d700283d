"""/api/Actions/available: active actions for ticket and phone-auth flows."""

from __future__ import annotations

import pytest

from accounts.models import Scope
from tests.automations import problem
from tests.factories import make_definition

pytestmark = pytest.mark.django_db

URL = "/api/Actions/available"


def test_a_tickets_read_key_lists_the_active_actions_by_name(client_for, owner, workspace):
    reply = make_definition(workspace, name="Send reply", description="Generate and send")
    make_definition(workspace, name="Archived", is_active=False)
    close = make_definition(workspace, name="Close ticket", action_type="Close")
    client = client_for(owner, workspace, [Scope.TICKETS_READ])
    response = client.get(URL)
    assert response.status_code == 200
    assert response.json() == [
        {
            "actionID": close.pk,
            "customerID": workspace.pk,
            "name": "Close ticket",
            "description": None,
            "actionType": "Close",
            "isActive": True,
        },
        {
            "actionID": reply.pk,
            "customerID": workspace.pk,
            "name": "Send reply",
            "description": "Generate and send",
            "actionType": "ReplySend",
            "isActive": True,
        },
    ]


def test_a_settings_manage_key_may_list_them_too(client_for, owner, workspace):
    make_definition(workspace)
    client = client_for(owner, workspace, [Scope.SETTINGS_MANAGE])
    assert len(client.get(URL).json()) == 1


def test_a_key_with_only_actions_read_is_refused(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ])
    body = problem(client.get(URL), 403)
    assert body["code"] == "missing_scope"
    assert "tickets:read" in body["title"]


def test_a_tickets_read_key_cannot_manage_actions(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.TICKETS_READ])
    problem(client.get("/api/Actions"), 403)
    problem(client.post("/api/Actions", {"name": "x", "actionType": "Close"}, format="json"), 403)


def test_it_answers_401_without_a_key(client):
    problem(client.get(URL), 401)


def test_only_the_callers_workspace_is_listed(outsider_client, workspace):
    make_definition(workspace)
    assert outsider_client.get(URL).json() == []


def test_it_runs_a_constant_number_of_queries(owner_client, workspace, django_assert_num_queries):
    for n in range(20):
        make_definition(workspace, name=f"A{n}")
    with django_assert_num_queries(3):  # key, touch, rows
        assert len(owner_client.get(URL).json()) == 20
