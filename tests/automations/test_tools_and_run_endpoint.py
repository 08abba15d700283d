"""GET /api/Actions/tools and POST /api/Actions/{id}/run."""

from __future__ import annotations

import json

import pytest

from automations.models import ActionDefinition
from contacts.models import Conversation

pytestmark = pytest.mark.django_db

SCHEMA = {
    "type": "object",
    "properties": {"orderNumber": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
    "required": ["orderNumber"],
}


@pytest.fixture
def tool(workspace):
    return ActionDefinition.objects.create(
        workspace=workspace,
        name="Look up order!",
        description="Find an order",
        action_type="Close",
        is_function_tool=True,
        function_parameters_schema=json.dumps(SCHEMA),
        tool_call_timeout_seconds=10,
    )


def test_tools_are_listed_as_specs(owner_client, tool, workspace):
    ActionDefinition.objects.create(workspace=workspace, name="not a tool", action_type="Close")
    ActionDefinition.objects.create(
        workspace=workspace,
        name="off",
        action_type="Close",
        is_function_tool=True,
        is_active=False,
    )
    response = owner_client.get("/api/Actions/tools")
    assert response.status_code == 200
    assert response.json() == [
        {
            "type": "function",
            "function": {
                "name": f"Look_up_order_{tool.pk}",
                "description": "Find an order",
                "parameters": SCHEMA,
            },
            "actionID": tool.pk,
            "toolCallTimeoutSeconds": 10,
        }
    ]


def test_run_validates_arguments_against_the_schema(owner_client, tool):
    response = owner_client.post(
        f"/api/Actions/{tool.pk}/run", {"arguments": {"qty": 0}}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"arguments", "arguments.qty"}


def test_run_executes_the_definition_now(owner_client, tool, workspace, make_contact):
    contact = make_contact("jane@example.com")
    conversation = Conversation.objects.create(
        workspace=workspace, contact=contact, channel="email"
    )
    response = owner_client.post(
        f"/api/Actions/{tool.pk}/run",
        {"arguments": {"orderNumber": "A-1"}, "conversationId": conversation.public_id},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["result"] == {"conversation_status": "closed"}
    conversation.refresh_from_db()
    assert conversation.status == "closed"


def test_run_refuses_unknown_and_foreign_references(owner_client, outsider_client, tool):
    assert outsider_client.post(f"/api/Actions/{tool.pk}/run", {}, format="json").status_code == 404
    response = owner_client.post(
        f"/api/Actions/{tool.pk}/run",
        {"arguments": {"orderNumber": "A-1"}, "conversationId": "th_nope"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"conversationId"}


def test_tools_need_a_tickets_or_settings_scope(client_for, owner, workspace, tool):
    assert (
        client_for(owner, workspace, ["actions:read"]).get("/api/Actions/tools").status_code == 403
    )
    assert (
        client_for(owner, workspace, ["tickets:read"]).get("/api/Actions/tools").status_code == 200
    )
