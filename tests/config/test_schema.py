from __future__ import annotations

import re
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from tests.factories import make_channel, make_definition, make_hook_action, make_topic_action

pytestmark = pytest.mark.django_db


def test_the_schema_validates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "ohk_<prefix>_<secret>",
        "description": "An API key from the admin or `manage.py create_api_key`.",
    }
    assert "/v1/me" in schema["paths"]
    assert "/v1/api-keys/{id}/revoke" in schema["paths"]


def test_the_schema_and_swagger_ui_are_served_without_a_key(client):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Outreach and automation hub API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # The UI's assets are served by us, not a CDN the browser may not reach.
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content


# --- the document tells the truth (issue 11) ---------------------------------------
LIST_ENVELOPES = {
    "/api/Actions": {"items", "pageNumber", "pageSize", "totalCount", "totalPages"},
    "/api/Channels": {"items", "pageNumber", "pageSize", "totalCount", "totalPages"},
    "/api/Topics": {"items", "pageNumber", "pageSize", "totalCount", "totalPages"},
    "/api/TopicActions": {"items", "pageNumber", "pageSize", "totalCount", "totalPages"},
    "/api/HookActions": {"items", "pageNumber", "pageSize", "totalCount", "totalPages"},
    "/v1/actions": {"status", "actions", "pagination"},
    "/v1/api-keys": {"status", "api_keys", "pagination"},
    "/v1/cadences": {"status", "cadences", "pagination"},
    "/v1/identities": {"status", "identities", "pagination"},
    "/v1/webhooks": {"status", "webhooks", "pagination"},
}
# The only answers that are a bare array, as AnswerPal's API (seed 004) answers them.
ARRAY_ANSWERS = {
    ("/api/Actions/tools", "get"),
    ("/api/Actions/available", "get"),
    ("/api/TopicActions/bulk", "post"),
    ("/api/HookActions/bulk", "post"),
}


def served_schema(client) -> dict:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def documented(schema: dict, path: str, method: str, status: int) -> dict:
    return schema["paths"][path][method]["responses"][str(status)]["content"]["application/json"][
        "schema"
    ]


def resolved(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def assert_matches(schema: dict, path: str, method: str, response) -> None:
    """The response validates against the schema documented for its status."""
    validator = OAS30Validator(
        {
            **documented(schema, path, method, response.status_code),
            "components": schema["components"],
        },
        format_checker=oas30_format_checker,
    )
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(response.json())
    ]
    assert errors == [], (path, response.status_code)


def test_list_operations_document_one_envelope_not_an_array(client):
    schema = served_schema(client)
    for path, keys in LIST_ENVELOPES.items():
        envelope = resolved(schema, documented(schema, path, "get", 200))
        assert envelope.get("type") == "object", path
        assert set(envelope["properties"]) == keys, path
    tools = documented(schema, "/api/Actions/tools", "get", 200)
    assert tools["type"] == "array"
    assert set(resolved(schema, tools["items"])["properties"]) == {
        "type",
        "function",
        "actionID",
        "toolCallTimeoutSeconds",
    }


def test_no_operation_answers_a_bare_array_but_the_tools_list(client):
    """A list envelope that drf-spectacular documents as an array of envelopes (an
    envelope serializer not derived from config.schema.Envelope) is caught here,
    for every operation, not only the ones LIST_ENVELOPES names."""
    schema = served_schema(client)
    arrays = {
        (path, method)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in ("get", "post", "put", "patch", "delete")
        for status, answer in operation.get("responses", {}).items()
        if status.startswith("2")
        and answer.get("content", {}).get("application/json", {}).get("schema", {}).get("type")
        == "array"
    }
    assert arrays == ARRAY_ANSWERS


def test_list_responses_validate_against_the_document(client, owner_client, workspace, make_action):
    definition = make_definition(workspace, name="Mark spam", action_type="Spam")
    make_definition(
        workspace,
        name="Look up order",
        action_type="ApiCall",
        is_function_tool=True,
        function_parameters_schema='{"type": "object", "properties": {"q": {"type": "string"}}}',
    )
    make_channel(workspace)
    make_topic_action(workspace, action=definition)
    make_hook_action(workspace, action=definition)
    make_action()
    assert owner_client.post("/v1/cadences", {"name": "Leads"}, format="json").status_code == 201
    webhook = {"url": "https://hooks.example.com/in", "events": ["*"]}
    assert owner_client.post("/v1/webhooks", webhook, format="json").status_code == 201
    schema = served_schema(client)
    for path in [*LIST_ENVELOPES, "/api/Actions/tools"]:
        # The link lists are filtered by a definition (or a hook).
        query = (
            {"actionId": definition.pk} if path in ("/api/TopicActions", "/api/HookActions") else {}
        )
        response = owner_client.get(path, query)
        assert response.status_code == 200, (path, response.content[:500])
        body = response.json()
        rows = (
            body
            if isinstance(body, list)
            else next(v for v in body.values() if isinstance(v, list))
        )
        assert rows, path  # something to validate
        assert_matches(schema, path, "get", response)


def test_error_answers_are_documented_in_each_facades_envelope(client, owner_client):
    schema = served_schema(client)
    assert_matches(schema, "/v1/actions", "get", client.get("/v1/actions"))
    assert_matches(schema, "/api/Actions", "get", client.get("/api/Actions"))
    assert_matches(schema, "/v2/actions", "get", client.get("/v2/actions"))
    assert_matches(
        schema,
        "/functions/v1/scheduled-actions",
        "get",
        client.get("/functions/v1/scheduled-actions"),
    )
    missing = owner_client.get("/v1/actions/act_0000000000000000")
    assert missing.status_code == 404
    assert_matches(schema, "/v1/actions/{action_id}", "get", missing)
    bad = owner_client.get("/v1/actions", {"limit": "many"})
    assert bad.status_code == 400
    assert_matches(schema, "/v1/actions", "get", bad)
    invalid = owner_client.post("/api/Topics", {"name": ""}, format="json")
    assert invalid.status_code == 400
    assert_matches(schema, "/api/Topics", "post", invalid)
    errors = schema["paths"]["/v1/actions"]["post"]["responses"]
    assert {"400", "401", "403", "409", "413", "415", "422"} <= set(errors)


def test_every_path_parameter_is_in_its_path(client):
    # /v1/cadences (list, create) documented a required cadence_id path parameter.
    schema = served_schema(client)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{([^}]+)}", path)), (method, path)
