"""GET /api/Actions/tools and POST /api/Actions/{id}/run."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from automations.models import ActionDefinition, HookRun, HookStep
from contacts.models import Conversation
from outreach.models import Action
from tests.automations import LocalServer, drain_steps, problem
from tests.factories import make_definition, make_topic

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


# --- who may run what (a run that sends or changes anything needs actions:write) ------------
READ_ONLY_KEY = ["actions:read", "contacts:read", "tickets:read"]
WRITE_KEY = ["tickets:read", "actions:write"]
APPROVE_KEY = ["tickets:read", "actions:write", "actions:approve"]


def run(client, definition, **body):
    return client.post(f"/api/Actions/{definition.pk}/run", body, format="json")


@pytest.fixture
def forward(workspace, email_identity):
    return make_definition(workspace, "Forward to the team", action_type="Forward")


@pytest.mark.parametrize(
    "action_type", ["Forward", "Reply", "ReplySend", "Send", "Close", "Spam", "Delete", "ApiCall"]
)
def test_a_read_only_key_cannot_run_a_definition_that_sends_or_changes_anything(
    client_for, owner, workspace, email_identity, action_type
):
    definition = make_definition(workspace, f"Run {action_type}", action_type=action_type)
    response = run(client_for(owner, workspace, READ_ONLY_KEY), definition)
    body = problem(response, 403)
    assert body["code"] == "missing_scope"
    assert "'actions:write'" in body["title"]
    assert not HookRun.objects.exists()  # nothing was stored, nothing sent
    assert not Action.objects.exists()


def test_a_key_that_may_not_approve_gets_its_forward_held_for_approval(
    client_for, owner, workspace, forward
):
    response = run(client_for(owner, workspace, WRITE_KEY), forward)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "completed"
    assert response.json()["result"]["action_status"] == "pending_approval"
    action = Action.objects.get()
    assert (action.type, action.status, action.require_approval) == (
        "send_email",
        "pending_approval",
        True,
    )


def test_a_key_that_may_approve_gets_its_forward_scheduled(client_for, owner, workspace, forward):
    response = run(client_for(owner, workspace, APPROVE_KEY), forward)
    assert response.status_code == 200, response.content
    assert response.json()["result"]["action_status"] == "scheduled"
    assert Action.objects.get().status == "scheduled"


def test_a_step_that_runs_later_still_waits_for_approval(
    client_for, owner, workspace, forward, django_capture_on_commit_callbacks
):
    tomorrow = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[
        (timezone.now() + timedelta(days=1)).weekday()
    ]
    ActionDefinition.objects.filter(pk=forward.pk).update(
        action_schedule=f"{tomorrow} 00:00-23:59", action_schedule_time_zone_id="UTC"
    )
    response = run(client_for(owner, workspace, WRITE_KEY), forward)
    assert response.json()["status"] == "pending"  # deferred to tomorrow's window
    assert not Action.objects.exists()

    # Tomorrow comes: the dispatcher runs the step, outside any request.
    ActionDefinition.objects.filter(pk=forward.pk).update(action_schedule="")
    HookStep.objects.update(due_at=timezone.now())
    drain_steps(django_capture_on_commit_callbacks)
    assert Action.objects.get().status == "pending_approval"


def test_a_reply_waits_for_approval_whatever_the_key(
    client_for, owner, workspace, email_identity, make_contact
):
    contact = make_contact("jane@example.com")
    conversation = Conversation.objects.create(
        workspace=workspace, contact=contact, channel="email"
    )
    reply = make_definition(workspace, "Draft a reply", action_type="Reply")
    response = run(
        client_for(owner, workspace, APPROVE_KEY), reply, conversationId=conversation.public_id
    )
    assert response.json()["result"]["action_status"] == "pending_approval"


@pytest.mark.parametrize("action_type", ["DetectTopics", "Wait"])
def test_a_definition_that_changes_nothing_runs_with_the_read_scopes(
    client_for, owner, workspace, action_type
):
    make_topic(workspace, "Billing", keywords=["invoice"])
    definition = make_definition(workspace, f"Run {action_type}", action_type=action_type)
    response = run(client_for(owner, workspace, READ_ONLY_KEY), definition)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "completed"
    assert not Action.objects.exists()


def test_an_api_call_run_sends_the_real_header_values(
    client_for, owner, workspace, owner_client, settings
):
    settings.OUTBOUND_HTTP_ALLOWLIST = ["127.0.0.1/32"]
    server = LocalServer()
    try:
        server.reply("/hook", 200, b"{}", Content_Type="application/json")
        created = owner_client.post(
            "/api/Actions",
            {
                "name": "Call CRM",
                "actionType": "ApiCall",
                "apiEndpoint": server.url("/hook"),
                "apiMethod": "POST",
                "apiHeaders": json.dumps({"X-Api-Key": "run-S3cret-k3y"}),
            },
            format="json",
        ).json()
        # What a client read (masked) sent back: the stored value is kept and used.
        response = owner_client.put(
            f"/api/Actions/{created['actionID']}",
            {**created, "apiHeaders": created["apiHeaders"]},
            format="json",
        )
        assert response.status_code == 204, response.content
        definition = ActionDefinition.objects.get(pk=created["actionID"])
        response = run(client_for(owner, workspace, WRITE_KEY), definition)
        assert response.status_code == 200, response.content
        assert response.json()["status"] == "completed", response.json()
        assert server.requests[0]["headers"]["x-api-key"] == "run-S3cret-k3y"
        assert "run-S3cret-k3y" not in response.content.decode()
    finally:
        server.close()


# --- bad input that was a 500 on PostgreSQL (issue 11) --------------------------------
def test_a_nul_in_the_arguments_is_a_400_naming_it(owner_client, tool):
    response = owner_client.post(
        f"/api/Actions/{tool.pk}/run",
        {"arguments": {"orderNumber": "A-\u00001", "note": {"text": ["ok", "\u0000"]}}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "arguments.orderNumber": ["Null characters are not allowed."],
        "arguments.note.text[1]": ["Null characters are not allowed."],
    }


@pytest.mark.parametrize("body", ["[]", '"x"', "1", "true", "null"])
def test_a_run_body_that_is_not_an_object_is_a_400(owner_client, tool, body):
    response = owner_client.post(
        f"/api/Actions/{tool.pk}/run", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": ["Expected a JSON object."]}


def test_a_run_body_nested_1000_levels_deep_is_a_400(owner_client, tool):
    text = '{"arguments":' + '{"a":' * 1_000 + "1" + "}" * 1_001
    response = owner_client.post(
        f"/api/Actions/{tool.pk}/run", data=text, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
