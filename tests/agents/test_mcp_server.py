"""The MCP server at /mcp, driven by the mcp package's client over streamable HTTP
against a live server."""

from __future__ import annotations

import json

import httpx2
import pytest

from accounts.models import Scope
from automations.models import ActionDefinition
from outreach.models import Action, ActionStatus
from tests.conftest import EMAIL_PARAMS

pytestmark = pytest.mark.django_db(transaction=True)

AGENT_SCOPES = [Scope.ACTIONS_READ, Scope.ACTIONS_WRITE, Scope.CONTACTS_READ, Scope.TICKETS_READ]
FIXED = {
    "propose_action",
    "get_action",
    "list_actions",
    "cancel_action",
    "list_identities",
    "find_contacts",
    "get_contact",
}
SCHEMA = {
    "type": "object",
    "properties": {"orderNumber": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
    "required": ["orderNumber"],
}


@pytest.fixture
def agent_key(make_key, member, workspace) -> str:
    return make_key(member, workspace, AGENT_SCOPES, name="agent")[1]


@pytest.fixture
def tool(workspace):
    return ActionDefinition.objects.create(
        workspace=workspace,
        name="Look up order",
        description="Find an order",
        action_type="DetectTopics",
        is_function_tool=True,
        function_parameters_schema=json.dumps(SCHEMA),
    )


def propose(identity, **extra) -> dict:
    return {
        "type": "send_email",
        "identity_id": identity.public_id,
        "params": dict(EMAIL_PARAMS),
        "description": "Follow up",
        **extra,
    }


def test_lists_the_tools_with_schemas_and_the_function_tools(mcp_session, agent_key, tool):
    async def body(session):
        return (await session.list_tools()).tools

    tools = {t.name: t for t in mcp_session(agent_key, body)}
    assert set(tools) >= FIXED
    assert tools["propose_action"].input_schema["required"] == ["type", "params", "identity_id"]
    function = tools[f"Look_up_order_{tool.pk}"]
    assert function.description == "Find an order"
    assert function.input_schema == SCHEMA


def test_tool_list_follows_definition_changes(mcp_session, agent_key, tool):
    async def names(session):
        return {t.name for t in (await session.list_tools()).tools}

    assert f"Look_up_order_{tool.pk}" in mcp_session(agent_key, names)
    tool.is_active = False
    tool.save()
    assert mcp_session(agent_key, names) == FIXED


def test_an_agents_proposal_waits_for_approval_and_shows_on_v1(
    mcp_session, agent_key, email_identity, owner_client
):
    async def body(session):
        # require_approval: false is not enough without actions:approve.
        result = await session.call_tool(
            "propose_action", propose(email_identity, require_approval=False)
        )
        fetched = await session.call_tool(
            "get_action", {"action_id": result.structured_content["action_id"]}
        )
        listed = await session.call_tool("list_actions", {"status": "pending_approval"})
        return result, fetched, listed

    result, fetched, listed = mcp_session(agent_key, body)
    assert not result.is_error
    action = result.structured_content["action"]
    assert action["status"] == ActionStatus.PENDING_APPROVAL
    assert Action.objects.get(public_id=action["id"]).status == ActionStatus.PENDING_APPROVAL
    rest = owner_client.get(f"/v1/actions/{action['id']}").json()["action"]
    assert fetched.structured_content["action"] == rest
    assert [a["id"] for a in listed.structured_content["actions"]] == [action["id"]]
    queue = owner_client.get("/v1/actions", {"status": "pending_approval"}).json()["actions"]
    assert action["id"] in [a["id"] for a in queue]


def test_a_key_that_may_approve_can_skip_approval(
    mcp_session, make_key, owner, workspace, email_identity
):
    key = make_key(owner, workspace, [*AGENT_SCOPES, Scope.ACTIONS_APPROVE])[1]

    async def body(session):
        skipped = await session.call_tool(
            "propose_action", propose(email_identity, require_approval=False)
        )
        default = await session.call_tool("propose_action", propose(email_identity))
        return skipped, default

    skipped, default = mcp_session(key, body)
    assert skipped.structured_content["action"]["status"] == ActionStatus.SCHEDULED
    assert default.structured_content["action"]["status"] == ActionStatus.PENDING_APPROVAL


def test_cancel_action(mcp_session, agent_key, email_identity):
    async def body(session):
        created = await session.call_tool("propose_action", propose(email_identity))
        action_id = created.structured_content["action_id"]
        return await session.call_tool("cancel_action", {"action_id": action_id})

    result = mcp_session(agent_key, body)
    assert not result.is_error
    assert result.structured_content["action"]["status"] == ActionStatus.CANCELLED


def test_bad_arguments_are_a_tool_error_naming_every_field(mcp_session, agent_key, tool):
    async def body(session):
        bad_action = await session.call_tool(
            "propose_action",
            {"type": "send_email", "identity_id": "id_nope", "params": {"to": "not-an-email"}},
        )
        bad_tool = await session.call_tool(f"Look_up_order_{tool.pk}", {"qty": 0})
        return bad_action, bad_tool

    bad_action, bad_tool = mcp_session(agent_key, body)
    assert bad_action.is_error
    fields = bad_action.structured_content["error"]["fields"]
    assert {"identity_id", "params.to", "params.subject", "params.body"} <= set(fields)
    for field in ("identity_id", "params.to", "params.subject"):
        assert field in bad_action.content[0].text
    assert bad_tool.is_error
    assert set(bad_tool.structured_content["error"]["fields"]) == {"arguments", "arguments.qty"}
    assert "arguments.qty" in bad_tool.content[0].text


def test_a_function_tool_runs_as_the_run_endpoint(mcp_session, agent_key, tool):
    async def body(session):
        return await session.call_tool(f"Look_up_order_{tool.pk}", {"orderNumber": "A-1"})

    result = mcp_session(agent_key, body)
    assert not result.is_error, result.content[0].text
    assert result.structured_content["runID"]
    assert result.structured_content["status"] in {"completed", "succeeded", "done"}


def test_a_missing_scope_is_a_tool_error_naming_it(mcp_session, make_key, member, workspace):
    key = make_key(member, workspace, [Scope.ACTIONS_READ])[1]

    async def body(session):
        return await session.call_tool("find_contacts", {"search": "ada"})

    result = mcp_session(key, body)
    assert result.is_error
    assert "contacts:read" in result.content[0].text


def test_contacts_and_resources(mcp_session, agent_key, make_contact, email_identity, workspace):
    contact = make_contact("ada@example.com")

    async def body(session):
        found = await session.call_tool("find_contacts", {"search": "ada"})
        got = await session.call_tool("get_contact", {"contact_id": contact.public_id})
        created = await session.call_tool("propose_action", propose(email_identity))
        action_id = created.structured_content["action_id"]
        templates = await session.list_resource_templates()
        resource = await session.read_resource(f"action://{action_id}")
        contact_resource = await session.read_resource(f"contact://{contact.public_id}")
        return found, got, action_id, templates, resource, contact_resource

    found, got, action_id, templates, resource, contact_resource = mcp_session(agent_key, body)
    assert [c["id"] for c in found.structured_content["contacts"]] == [contact.public_id]
    assert got.structured_content["contact"]["id"] == contact.public_id
    assert "events" in got.structured_content
    assert {t.uri_template for t in templates.resource_templates} == {
        "action://{id}",
        "contact://{id}",
    }
    assert json.loads(resource.contents[0].text)["action"]["id"] == action_id
    assert json.loads(contact_resource.contents[0].text)["contact"]["id"] == contact.public_id


def test_another_workspace_sees_none_of_it(
    mcp_session, agent_key, make_key, outsider, other_workspace, email_identity, tool
):
    async def create(session):
        return (
            await session.call_tool("propose_action", propose(email_identity))
        ).structured_content

    action_id = mcp_session(agent_key, create)["action_id"]
    other = make_key(outsider, other_workspace, [*AGENT_SCOPES, Scope.ACTIONS_APPROVE])[1]

    async def snoop(session):
        got = await session.call_tool("get_action", {"action_id": action_id})
        cancelled = await session.call_tool("cancel_action", {"action_id": action_id})
        listed = await session.call_tool("list_actions", {})
        tools = {t.name for t in (await session.list_tools()).tools}
        ran = await session.call_tool(f"Look_up_order_{tool.pk}", {"orderNumber": "A-1"})
        proposed = await session.call_tool("propose_action", propose(email_identity))
        return got, cancelled, listed, tools, ran, proposed

    got, cancelled, listed, tools, ran, proposed = mcp_session(other, snoop)
    assert got.is_error and got.structured_content["error"]["code"] == "not_found"
    assert cancelled.is_error and cancelled.structured_content["error"]["code"] == "not_found"
    assert listed.structured_content["actions"] == []
    assert tools == FIXED
    assert ran.is_error
    assert proposed.is_error and "identity_id" in proposed.structured_content["error"]["fields"]
    assert Action.objects.get(public_id=action_id).status == ActionStatus.PENDING_APPROVAL


@pytest.mark.parametrize("header", [None, "Bearer ohk_nope_nope", "Basic abc"])
def test_no_key_or_a_bad_key_is_refused_before_any_tool_runs(mcp_url, header):
    headers = {"Accept": "application/json, text/event-stream"}
    if header:
        headers["Authorization"] = header
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "list_actions", "arguments": {}},
    }
    response = httpx2.post(mcp_url, json=request, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert "Bearer" in response.headers["www-authenticate"]
