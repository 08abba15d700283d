"""The Test button of ApiCall definitions, against a real HTTP server on loopback
(allow-listed, as in test_api_call.py), through Django's test client."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from automations.admin.api_test import SAMPLE_CONTEXT
from automations.models import ActionDefinition
from tests.admin_helpers import staff_client
from tests.automations import DEFINITIONS, change_url
from tests.factories import make_api_call, make_reply

pytestmark = pytest.mark.django_db

TOKEN = "tok_live_Test-Butt0n-s3cret"
PASSWORD = "pw-Test-Butt0n-s3cret"


def button_url(definition: ActionDefinition) -> str:
    return f"{DEFINITIONS}{definition.pk}/test/"


def crm_call(workspace, server, name: str = "Update CRM", **values) -> ActionDefinition:
    fields = {
        "api_endpoint": "/customers/{{ endUser.customerNumber }}",
        "override_api_base_url": server.url("/api/v1"),
        "api_method": "PUT",
        "api_headers": '{"X-Ticket": "{{ ticket.id }}"}',
        "api_body_template": '{"status": "{{ ticket.status }}", "name": "{{ endUser.firstName }}"}',
        "field_mapping": '{"email": "endUser.email"}',
        "response_field_mapping": '{"endUser.crmId": "data.id", "ticket.tier": "data.tier"}',
        "override_api_authentication_type": "Bearer",
        "override_api_token": TOKEN,
        "tool_call_timeout_seconds": 5,
    }
    return make_api_call(workspace, name, **{**fields, **values})


def run(client: Client, definition: ActionDefinition, context: dict | str | None = None):
    text = context if isinstance(context, str) else json.dumps(context or SAMPLE_CONTEXT)
    return client.post(button_url(definition), {"context": text})


# --- The button and the page --------------------------------------------------------------------
def test_the_button_shows_on_api_calls_only(staff, workspace):
    call = make_api_call(workspace)
    reply = make_reply(workspace)
    assert f'href="{button_url(call)}"' in staff.get(change_url(call)).content.decode()
    assert button_url(reply) not in staff.get(change_url(reply)).content.decode()
    # The page of a non-ApiCall definition sends back to the definition.
    response = staff.get(button_url(reply))
    assert response.status_code == 302
    assert response["Location"] == change_url(reply)


def test_the_page_starts_with_a_sample_context(staff, workspace):
    response = staff.get(button_url(make_api_call(workspace)))
    assert response.status_code == 200
    prefilled = json.loads(response.context["form"]["context"].value())
    assert set(prefilled) >= {"endUser", "ticket", "message"}
    assert prefilled["endUser"]["firstName"] == "Dana"
    assert response.context["outcome"] is None


# --- Running it ---------------------------------------------------------------------------------
def test_it_shows_the_rendered_request_and_the_mapped_answer(
    staff, workspace, server, allow_loopback
):
    server.reply(
        "/api/v1/customers/C-1001",
        200,
        json.dumps({"data": {"id": "crm-77", "tier": "gold"}, "echo": TOKEN}).encode(),
        Content_Type="application/json",
    )
    definition = crm_call(workspace, server)

    response = run(staff, definition)

    assert response.status_code == 200
    outcome = response.context["outcome"]
    assert outcome["ok"] is True
    request = outcome["request"]
    assert request["method"] == "PUT"
    assert request["url"] == server.url("/api/v1/customers/C-1001")
    assert request["headers"]["Authorization"] == "[redacted]"
    assert request["headers"]["X-Ticket"] == "[redacted]"  # api_headers values are secrets
    assert json.loads(request["body"]) == {
        "status": "open",
        "name": "Dana",
        "email": "dana@example.com",
    }
    assert outcome["status"] == 200
    assert outcome["mapped"] == {"endUser.crmId": "crm-77", "ticket.tier": "gold"}

    html = response.content.decode()
    assert f"PUT {server.url('/api/v1/customers/C-1001')}" in html
    assert "[redacted]" in html
    assert "crm-77" in html and "gold" in html
    assert TOKEN not in html  # neither the header nor the server's echo of it

    [sent] = server.requests  # and it really went out, with the real token and header
    assert sent["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert sent["headers"]["x-ticket"] == "cv_sample"


def test_the_context_given_is_the_one_rendered(staff, workspace, server, allow_loopback):
    server.reply("/api/v1/customers/X-9", 204, b"")
    definition = crm_call(workspace, server, response_field_mapping="")
    context = {"endUser": {"customerNumber": "X-9", "firstName": "Eve"}, "ticket": {}}
    outcome = run(staff, definition, context).context["outcome"]
    assert outcome["ok"] is True
    assert outcome["request"]["url"].endswith("/api/v1/customers/X-9")
    assert json.loads(outcome["request"]["body"])["name"] == "Eve"
    assert outcome["warnings"]  # ticket.status and ticket.id rendered empty: said so


def test_basic_credentials_never_reach_the_page(staff, workspace, server, allow_loopback):
    server.reply("/api/v1/customers/C-1001", 200, f"hello {PASSWORD}".encode())
    definition = crm_call(
        workspace,
        server,
        override_api_authentication_type="Basic",
        override_api_username="crm-user",
        override_api_password=PASSWORD,
    )
    response = run(staff, definition)
    html = response.content.decode()
    assert response.context["outcome"]["ok"] is True
    assert PASSWORD not in html and TOKEN not in html
    assert "hello [redacted]" in html


def test_header_values_never_reach_the_page(staff, workspace, server, allow_loopback):
    key = "hdr-Test-Butt0n-s3cret"
    server.reply("/api/v1/customers/C-1001", 200, f"your key is {key}".encode())
    definition = crm_call(
        workspace, server, api_headers=json.dumps({"X-Api-Key": key}), response_field_mapping=""
    )
    response = run(staff, definition)
    outcome = response.context["outcome"]
    assert outcome["ok"] is True
    assert outcome["request"]["headers"]["X-Api-Key"] == "[redacted]"
    html = response.content.decode()
    assert key not in html
    assert "your key is [redacted]" in html
    assert server.requests[0]["headers"]["x-api-key"] == key  # the real value went out


def test_an_error_answer_is_shown_with_the_request(staff, workspace, server, allow_loopback):
    server.reply("/api/v1/customers/C-1001", 422, b'{"error": "unknown customer"}')
    outcome = run(staff, crm_call(workspace, server)).context["outcome"]
    assert outcome["ok"] is False
    assert outcome["kind"].startswith("Permanent failure")
    assert outcome["error"] == "The API answered 422."
    assert outcome["status"] == 422
    assert "unknown customer" in outcome["body_excerpt"]
    assert outcome["request"]["method"] == "PUT"

    server.reply("/api/v1/customers/C-1001", 503, b"down")
    outcome = run(staff, crm_call(workspace, server, name="again")).context["outcome"]
    assert outcome["kind"].startswith("Temporary failure")


def test_a_private_address_is_refused_unless_allow_listed(staff, workspace, server, settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = []
    response = run(staff, crm_call(workspace, server))
    outcome = response.context["outcome"]
    assert outcome["ok"] is False
    assert outcome["error"].startswith("Refused to connect to '127.0.0.1'")
    assert outcome["request"]["url"].startswith(server.url("/api/v1/"))
    assert "Refused to connect" in response.content.decode()
    assert server.requests == []  # nothing was sent


def test_a_template_error_is_shown(staff, workspace, server, allow_loopback):
    definition = crm_call(workspace, server)
    outcome = run(staff, definition, {"endUser": {}}).context["outcome"]
    assert outcome["ok"] is False
    assert "api_endpoint" in outcome["error"]  # the URL needs endUser.customerNumber
    assert outcome["request"] is None  # nothing was built, nothing sent
    assert server.requests == []


@pytest.mark.parametrize(
    ("text", "message"),
    [("{nope", "Must be valid JSON"), ("[1, 2]", "Must be a JSON object")],
)
def test_the_context_must_be_a_json_object(staff, workspace, text, message):
    response = run(staff, make_api_call(workspace), text)
    assert response.status_code == 200
    assert response.context["outcome"] is None
    assert response.context["form"].errors["context"][0].startswith(message)


# --- Who may ------------------------------------------------------------------------------------
def test_it_needs_change_permission_csrf_and_the_workspace(
    workspace, owner, member, outsider, server, allow_loopback
):
    definition = crm_call(workspace, server)

    viewer = staff_client(member, app_label="automations", codenames=("view_actiondefinition",))
    assert viewer.get(button_url(definition)).status_code == 403
    assert run(viewer, definition).status_code == 403

    stranger = staff_client(outsider, app_label="automations")
    assert stranger.get(button_url(definition)).status_code == 404
    assert run(stranger, definition).status_code == 404

    strict = staff_client(owner, app_label="automations", enforce_csrf_checks=True)
    assert strict.get(button_url(definition)).status_code == 200
    response = strict.post(button_url(definition), {"context": json.dumps(SAMPLE_CONTEXT)})
    assert response.status_code == 403  # no CSRF token
    assert server.requests == []
