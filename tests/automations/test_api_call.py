"""ApiCall actions against a real HTTP server on loopback (allow-listed)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.db import connection

from automations.api_call import apply_mapped, get_path, run_api_call, set_path
from automations.models import ActionDefinition
from config.queue import PermanentError, TransientError

CONTEXT = {
    "endUser": {"customerNumber": "C-1001", "email": "ada@example.com", "name": 'Ada "L"'},
    "ticket": {"id": 77, "status": "open", "tags": ["billing", "vip"]},
}
TOKEN = "tok_live_5ecr3t"
PASSWORD = "pa55:word!"

pytestmark = pytest.mark.usefixtures("allow_loopback")  # the conftest's, for every test


@pytest.fixture
def define(workspace, server):
    """Save an ApiCall definition pointing at the test server; read it back from the
    database (so secrets come through EncryptedTextField's decryption)."""

    def make(**fields) -> ActionDefinition:
        values = {
            "name": "Call CRM",
            "action_type": "ApiCall",
            "override_api_base_url": server.url("/api/v1"),
            "tool_call_timeout_seconds": 5,
        }
        values.update(fields)
        saved = ActionDefinition.objects.create(workspace=workspace, **values)
        return ActionDefinition.objects.get(pk=saved.pk)

    return make


def json_reply(server, path, payload, status=200, **headers):
    server.reply(
        path, status, json.dumps(payload).encode(), Content_Type="application/json", **headers
    )


# --- the request ----------------------------------------------------------------------------
def test_put_with_rendered_path_headers_body_and_field_mapping(server, define):
    json_reply(server, "/api/v1/customers/C-1001", {"ok": True})
    definition = define(
        api_endpoint="/customers/{{endUser.customerNumber}}",
        api_method="put",
        api_headers=json.dumps(
            {"Content-Type": "application/json", "X-Ticket": "{{ ticket.id }}", "X-Static": "1"}
        ),
        api_body_template='{"status":"{{ticket.status}}","name":"{{ endUser.name }}"}',
        field_mapping=json.dumps(
            {"email": "endUser.email", "meta.firstTag": "ticket.tags.0", "status": "ticket.id"}
        ),
    )
    result = run_api_call(definition, CONTEXT)

    assert result["status"] == 200
    [request] = server.requests
    assert request["method"] == "PUT"
    assert request["path"] == "/api/v1/customers/C-1001"
    assert request["headers"]["x-ticket"] == "77"
    assert request["headers"]["x-static"] == "1"
    assert request["headers"]["content-type"] == "application/json"
    assert "authorization" not in request["headers"]
    assert json.loads(request["body"]) == {
        "status": 77,  # field_mapping wins over the template
        "name": 'Ada "L"',  # JSON-structured template: the quote cannot break out
        "email": "ada@example.com",
        "meta": {"firstTag": "billing"},
    }
    assert result["warnings"] == []


def test_text_template_rendering_to_json_is_sent_as_json(server, define):
    json_reply(server, "/api/v1/notes", {})
    definition = define(
        api_endpoint="notes",
        api_method="POST",
        api_body_template='{"tags": {{ ticket.tags|tojson }}, "count": {{ ticket.tags|length }}}',
    )
    run_api_call(definition, CONTEXT)
    request = server.requests[0]
    assert request["headers"]["content-type"] == "application/json"
    assert json.loads(request["body"]) == {"tags": ["billing", "vip"], "count": 2}


def test_plain_text_body(server, define):
    server.reply("/api/v1/sms", 202, b"queued")
    definition = define(
        api_endpoint="/sms", api_method="POST", api_body_template="Hello {{ endUser.name }}!"
    )
    result = run_api_call(definition, CONTEXT)
    assert result == {"status": 202, "mapped": {}, "body_excerpt": "queued", "warnings": []}
    request = server.requests[0]
    assert request["body"] == b'Hello Ada "L"!'
    assert request["headers"]["content-type"] == "text/plain; charset=utf-8"


def test_get_puts_field_mapping_in_the_query(server, define):
    json_reply(server, "/api/v1/lookup", {"found": True})
    definition = define(
        api_endpoint="/lookup?source=hub",
        field_mapping=json.dumps({"email": "endUser.email", "tags": "ticket.tags"}),
    )
    run_api_call(definition, CONTEXT)
    request = server.requests[0]
    assert request["method"] == "GET"
    assert request["path"] == (
        "/api/v1/lookup?source=hub&email=ada%40example.com&tags=%5B%22billing%22%2C%22vip%22%5D"
    )
    assert request["body"] == b""


def test_absolute_endpoint_is_used_as_is(server, define):
    json_reply(server, "/elsewhere/C-1001", {})
    definition = define(
        override_api_base_url="https://ignored.example.com",
        api_endpoint=server.url("/elsewhere/{{ endUser.customerNumber }}"),
    )
    assert run_api_call(definition, CONTEXT)["status"] == 200
    assert server.requests[0]["path"] == "/elsewhere/C-1001"


@pytest.mark.parametrize(
    ("value", "expected_path"),
    [
        ("../../admin", "/api/v1/customers/..%2F..%2Fadmin/notes"),
        ("x/../../../admin?drop=1", "/api/v1/customers/x%2F..%2F..%2F..%2Fadmin%3Fdrop%3D1/notes"),
        ("1#frag", "/api/v1/customers/1%23frag/notes"),
        ("a b&c=d", "/api/v1/customers/a%20b%26c%3Dd/notes"),
    ],
)
def test_substituted_values_cannot_change_the_path(server, define, value, expected_path):
    server.routes = {}  # every path answers 404: we only look at what was requested
    definition = define(api_endpoint="/customers/{{ endUser.customerNumber }}/notes")
    with pytest.raises(PermanentError):
        run_api_call(definition, {"endUser": {"customerNumber": value}})
    assert server.requests[0]["path"] == expected_path


def test_substituted_values_cannot_add_query_parameters(server, define):
    server.reply("/api/v1/search", 200, b"{}")
    definition = define(api_endpoint="/search?q={{ q }}&limit=5")
    run_api_call(definition, {"q": "x&limit=100000&admin=true"})
    assert (
        server.requests[0]["path"] == "/api/v1/search?q=x%26limit%3D100000%26admin%3Dtrue&limit=5"
    )


def test_a_substituted_value_cannot_make_the_endpoint_absolute(server, define):
    server.reply("/api/v1/http%3A%2F%2F169.254.169.254%2F", 200, b"{}")
    definition = define(api_endpoint="{{ target }}")
    run_api_call(definition, {"target": "http://169.254.169.254/"})
    assert server.requests[0]["path"] == "/api/v1/http%3A%2F%2F169.254.169.254%2F"


def test_a_missing_url_value_is_a_permanent_error_not_an_empty_segment(server, define):
    definition = define(api_endpoint="/customers/{{ endUser.customerNumber }}", api_method="PUT")
    with pytest.raises(PermanentError, match="api_endpoint"):
        run_api_call(definition, {"endUser": {}})
    assert server.requests == []


def test_missing_body_values_render_empty_with_a_warning(server, define):
    json_reply(server, "/api/v1/x", {})
    definition = define(
        api_endpoint="/x",
        api_method="POST",
        api_body_template='{"nick": "{{ endUser.nickname }}"}',
        field_mapping=json.dumps({"phone": "endUser.phone"}),
    )
    result = run_api_call(definition, CONTEXT)
    assert json.loads(server.requests[0]["body"]) == {"nick": ""}
    assert result["warnings"] == [
        "api_body_template: 'nickname' is missing and rendered empty",
        "field_mapping: 'endUser.phone' is not in the context",
    ]


# --- authentication -------------------------------------------------------------------------
def test_bearer_token_reaches_the_server_and_nowhere_else(server, define, caplog):
    json_reply(server, "/api/v1/me", {"echo": TOKEN, "id": 5})
    definition = define(
        api_endpoint="/me",
        api_headers=json.dumps({"Authorization": "Basic should-be-replaced"}),
        override_api_authentication_type="Bearer",
        override_api_token=TOKEN,
        response_field_mapping=json.dumps({"ticket.echo": "echo"}),
    )
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute(
            "SELECT override_api_token FROM automations_actiondefinition WHERE id = %s",
            [definition.pk],
        )
        assert TOKEN not in cursor.fetchone()[0]

    result = run_api_call(definition, CONTEXT)
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in json.dumps(result)  # echoed by the server, redacted here
    assert result["mapped"] == {"ticket.echo": "[redacted]"}
    assert TOKEN not in caplog.text


def test_basic_auth_reaches_the_server_and_nowhere_else(server, define, caplog):
    json_reply(server, "/api/v1/me", {"ok": True})
    definition = define(
        api_endpoint="/me",
        override_api_authentication_type="Basic",
        override_api_username="crm-user",
        override_api_password=PASSWORD,
    )
    result = run_api_call(definition, CONTEXT)
    header = server.requests[0]["headers"]["authorization"]
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]).decode() == f"crm-user:{PASSWORD}"
    dumped = json.dumps(result)
    assert PASSWORD not in dumped and header[6:] not in dumped
    assert PASSWORD not in caplog.text and header[6:] not in caplog.text


def test_auth_missing_its_secret_is_a_permanent_error(server, define):
    definition = define(api_endpoint="/me", override_api_authentication_type="Bearer")
    with pytest.raises(PermanentError, match="override_api_token"):
        run_api_call(definition, CONTEXT)
    assert server.requests == []


def test_secrets_are_redacted_from_error_details(server, define):
    server.reply("/api/v1/me", 401, f"bad token {TOKEN}".encode())
    definition = define(
        api_endpoint="/me", override_api_authentication_type="Bearer", override_api_token=TOKEN
    )
    with pytest.raises(PermanentError) as excinfo:
        run_api_call(definition, CONTEXT)
    assert TOKEN not in str(excinfo.value) and TOKEN not in json.dumps(excinfo.value.detail)
    assert excinfo.value.detail["status"] == 401


HEADER_KEY = "hdr_live_K3y-0f-the-CRM"


def test_header_values_reach_the_server_and_nowhere_else(server, define, caplog):
    json_reply(server, "/api/v1/me", {"echo": HEADER_KEY, "id": "C-1001"})
    definition = define(
        api_endpoint="/me",
        api_headers=json.dumps(
            {"X-Api-Key": HEADER_KEY, "X-Customer": "{{ endUser.customerNumber }}"}
        ),
        response_field_mapping=json.dumps({"ticket.echo": "echo", "ticket.customer": "id"}),
    )
    with connection.cursor() as cursor:  # encrypted at rest
        cursor.execute(
            "SELECT api_headers FROM automations_actiondefinition WHERE id = %s",
            [definition.pk],
        )
        assert HEADER_KEY not in cursor.fetchone()[0]

    result = run_api_call(definition, CONTEXT, with_request=True)
    sent = server.requests[0]["headers"]
    assert (sent["x-api-key"], sent["x-customer"]) == (HEADER_KEY, "C-1001")
    assert HEADER_KEY not in json.dumps(result)  # echoed by the server, redacted here
    # A templated value is the run's own data, not a stored secret: mapped back as is.
    assert result["mapped"] == {"ticket.echo": "[redacted]", "ticket.customer": "C-1001"}
    headers = result["request"]["headers"]
    assert (headers["X-Api-Key"], headers["X-Customer"]) == ("[redacted]", "[redacted]")
    assert HEADER_KEY not in caplog.text


# --- the response ---------------------------------------------------------------------------
def test_response_field_mapping_back_into_the_context(server, define):
    json_reply(
        server,
        "/api/v1/customers/C-1001",
        {"data": {"id": "X-9", "tier": "gold", "orders": [{"total": 12.5}]}, "ok": True},
    )
    definition = define(
        api_endpoint="/customers/{{ endUser.customerNumber }}",
        response_field_mapping=json.dumps(
            {
                "endUser.externalId": "data.id",
                "endUser.tier": "$.data.tier",
                "ticket.lastOrderTotal": "data.orders.0.total",
                "crm.raw": "$",
                "ticket.absent": "data.nothing",
            }
        ),
    )
    result = run_api_call(definition, CONTEXT)
    assert result["mapped"] == {
        "endUser.externalId": "X-9",
        "endUser.tier": "gold",
        "ticket.lastOrderTotal": 12.5,
        "crm.raw": {"data": {"id": "X-9", "tier": "gold", "orders": [{"total": 12.5}]}, "ok": True},
    }
    assert result["warnings"] == ["response_field_mapping: 'data.nothing' is not in the response"]
    assert '"id": "X-9"' in result["body_excerpt"]

    updated = apply_mapped(CONTEXT, result["mapped"])
    assert updated["endUser"]["externalId"] == "X-9"
    assert updated["endUser"]["customerNumber"] == "C-1001"
    assert updated["ticket"]["lastOrderTotal"] == 12.5
    assert "externalId" not in CONTEXT["endUser"]  # the original is untouched


def test_body_excerpt_is_capped_at_2_kb(server, define):
    server.reply("/api/v1/big", 200, b"a" * 10_000)
    result = run_api_call(define(api_endpoint="/big"), CONTEXT)
    assert result["body_excerpt"] == "a" * 2048


def test_a_secret_split_by_the_excerpt_edge_is_still_redacted(server, define):
    server.reply("/api/v1/edge", 200, b"a" * (2048 - 4) + TOKEN.encode())
    definition = define(
        api_endpoint="/edge", override_api_authentication_type="Bearer", override_api_token=TOKEN
    )
    excerpt = run_api_call(definition, CONTEXT)["body_excerpt"]
    assert TOKEN[:4] not in excerpt
    assert excerpt.endswith("a[red")


def test_non_json_response_with_a_mapping_warns(server, define):
    server.reply("/api/v1/html", 200, b"<html></html>")
    definition = define(api_endpoint="/html", response_field_mapping='{"a.b": "c"}')
    result = run_api_call(definition, CONTEXT)
    assert result["mapped"] == {}
    assert result["warnings"] == ["response_field_mapping: the response is not JSON"]


# --- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 429, 408])
def test_retryable_statuses_are_transient(server, define, status):
    server.reply("/api/v1/flaky", status, b"try later", Retry_After="7")
    with pytest.raises(TransientError) as excinfo:
        run_api_call(define(api_endpoint="/flaky"), CONTEXT)
    assert excinfo.value.retry_after == 7
    assert excinfo.value.detail["status"] == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_permanent(server, define, status):
    server.reply("/api/v1/missing", status, b'{"error": "nope"}')
    with pytest.raises(PermanentError) as excinfo:
        run_api_call(define(api_endpoint="/missing"), CONTEXT)
    assert not isinstance(excinfo.value, TransientError)
    assert excinfo.value.detail == {"status": status, "body_excerpt": '{"error": "nope"}'}


def test_blocked_destination_is_permanent(define, settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = []
    definition = define(override_api_base_url="http://169.254.169.254", api_endpoint="/latest")
    with pytest.raises(PermanentError, match="link-local") as excinfo:
        run_api_call(definition, CONTEXT)
    assert excinfo.value.detail["error"] == "blocked_destination"


def test_redirect_to_a_blocked_destination_is_permanent(server, define):
    server.redirect("/api/v1/go", "http://10.0.0.1/internal")
    with pytest.raises(PermanentError, match="private"):
        run_api_call(define(api_endpoint="/go"), CONTEXT)


def test_timeout_is_transient(server, define):
    def slow(_request):
        time.sleep(3)
        return 200, {}, b"late"

    server.routes["/api/v1/slow"] = slow
    definition = define(api_endpoint="/slow", tool_call_timeout_seconds=1)
    with pytest.raises(TransientError, match="timed out"):
        run_api_call(definition, CONTEXT)


def test_timeout_defaults_to_the_provider_timeout(server, define, settings, monkeypatch):
    from automations import api_call

    seen = {}

    def fake_request(method, url, **kwargs):
        seen.update(kwargs)
        raise api_call.OutboundError("boom", transient=True)

    monkeypatch.setattr(api_call, "safe_request", fake_request)
    settings.PROVIDER_TIMEOUT_SECONDS = 13
    with pytest.raises(TransientError):
        run_api_call(define(api_endpoint="/x", tool_call_timeout_seconds=None), CONTEXT)
    assert seen["timeout"] == 13


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"api_headers": "{not json"}, "api_headers is not valid JSON"),
        ({"api_headers": "[1, 2]"}, "api_headers must be a JSON object"),
        ({"api_headers": '{"Bad Header": "x"}'}, "not a valid header name"),
        ({"api_headers": '{"X-A": "{{ v }}"}'}, "line break"),
        ({"field_mapping": '{"a": 1}'}, "must be a string path"),
        ({"field_mapping": '{"a": "b..c"}'}, "not a valid dotted path"),
        ({"response_field_mapping": '{"__class__": "a"}'}, "not a valid dotted path"),
        ({"api_method": "TRACE"}, "not supported"),
        ({"api_body_template": "{{ ''.__class__ }}", "api_method": "POST"}, "unsafe"),
        ({"api_body_template": "{% if %}", "api_method": "POST"}, "api_body_template"),
        ({"api_endpoint": "ftp://example.com/x"}, "only http and https"),
        ({"override_api_base_url": "", "api_endpoint": "/relative"}, "no API base URL"),
        ({"override_api_authentication_type": "Digest"}, "Unknown"),
        (
            {
                "api_body_template": '"just a string"',
                "api_method": "POST",
                "field_mapping": '{"a": "ticket.id"}',
            },
            "needs a JSON object body",
        ),
        ({"action_type": "Reply"}, "not an ApiCall"),
    ],
)
def test_bad_definitions_are_permanent_errors(server, define, fields, message):
    definition = define(**{"api_endpoint": "/x", **fields})
    with pytest.raises(PermanentError, match=message):
        run_api_call(definition, {**CONTEXT, "v": "a\r\nX-Injected: 1"})
    assert server.requests == []


# --- path helpers ---------------------------------------------------------------------------
def test_path_helpers():
    data = {"a": {"b": [10, {"c": "d"}]}}
    assert get_path(data, "a.b.1.c") == (True, "d")
    assert get_path(data, "a.b.-1.c") == (True, "d")
    assert get_path(data, "a.b.5") == (False, None)
    assert get_path(data, "a.x") == (False, None)
    assert get_path(data, "$") == (True, data)
    target: dict = {"a": 1}
    set_path(target, "x.y.z", 2)
    assert target == {"a": 1, "x": {"y": {"z": 2}}}
    with pytest.raises(PermanentError, match="not an object"):
        set_path(target, "a.b", 3)


# --- the template vocabulary's aliases ------------------------------------------------------
def test_the_hubs_names_reach_the_same_context_as_answerpals(server, define):
    # The run's context says endUser and ticket; contact and conversation are the same.
    json_reply(server, "/api/v1/customers/C-1001", {})
    definition = define(
        api_endpoint="/customers/{{ contact.customerNumber }}",
        api_method="POST",
        api_body_template='{"email": "{{ contact.email }}", "ticket": "{{ conversation.id }}"}',
    )
    result = run_api_call(definition, CONTEXT)
    [request] = server.requests
    assert request["path"] == "/api/v1/customers/C-1001"
    assert json.loads(request["body"]) == {"email": "ada@example.com", "ticket": "77"}
    assert result["warnings"] == []


def test_render_request_builds_the_request_without_sending_it(server, define):
    from automations.api_call import render_request

    definition = define(
        api_endpoint="/customers/{{ endUser.customerNumber }}",
        api_method="put",
        api_headers=json.dumps({"X-Api-Key": "s3cret-header-value"}),
        api_body_template='{"status": "{{ ticket.status }}", "who": "{{ contact.nope }}"}',
    )
    preview = render_request(definition, CONTEXT)
    assert preview["method"] == "PUT"
    assert preview["url"] == server.url("/api/v1/customers/C-1001")
    assert json.loads(preview["body"]) == {"status": "open", "who": ""}
    assert preview["warnings"] == ["api_body_template: 'nope' is missing and rendered empty"]
    assert "s3cret" not in json.dumps(preview)  # headers are secrets: left out
    assert server.requests == []
