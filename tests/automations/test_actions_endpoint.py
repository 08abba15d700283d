"""/api/Actions: list, create, read, update and delete action definitions."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.models import Membership, Scope
from automations.models import ActionDefinition, CustomFieldDefinition, HookAction, TopicAction
from tests.automations import SEED_API_CALL, problem
from tests.factories import make_definition, make_hook_action, make_topic_action

pytestmark = pytest.mark.django_db

URL = "/api/Actions"
READ_KEYS = {
    "actionID",
    "customerID",
    "name",
    "description",
    "actionType",
    "isActive",
    "apiEndpoint",
    "apiMethod",
    "apiHeaders",
    "apiBodyTemplate",
    "fieldMapping",
    "responseFieldMapping",
    "overrideApiBaseUrl",
    "overrideApiUsername",
    "overrideApiAuthenticationType",
    "hasOverrideApiPassword",
    "hasOverrideApiToken",
    "conditionalRules",
    "forwardRecipients",
    "forwardPhoneNumber",
    "waitSeconds",
    "actionSchedule",
    "actionScheduleTimeZoneId",
    "isFunctionTool",
    "functionParametersSchema",
    "toolCallTimeoutSeconds",
    "createdAt",
    "updatedAt",
    "customFieldDefinitions",
}


# --- auth
def test_it_answers_401_without_a_key(client):
    body = problem(client.get(URL), 401)
    assert body["code"] == "unauthenticated"


def test_it_answers_401_for_a_bad_key(client):
    response = client.get(URL, HTTP_AUTHORIZATION="Bearer ohk_nope_nope")
    problem(response, 401)


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", URL), ("post", URL), ("get", f"{URL}/1"), ("put", f"{URL}/1"), ("delete", f"{URL}/1")],
)
def test_managing_actions_needs_settings_manage(client_for, owner, workspace, method, path):
    client = client_for(owner, workspace, [Scope.TICKETS_READ, Scope.ACTIONS_WRITE])
    body = problem(getattr(client, method)(path, {}, format="json"), 403)
    assert body["code"] == "missing_scope"
    assert "settings:manage" in body["title"]


# --- create
def test_it_creates_the_seeds_example(owner_client, workspace):
    response = owner_client.post(URL, SEED_API_CALL, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == READ_KEYS
    definition = ActionDefinition.objects.get()
    assert response["Location"] == f"/api/Actions/{definition.pk}"
    assert body["actionID"] == definition.pk
    assert body["customerID"] == workspace.pk
    assert body["name"] == "Call CRM"
    assert body["actionType"] == "ApiCall"
    assert body["apiMethod"] == "PUT"
    assert body["apiHeaders"] == '{"Content-Type":"********"}'  # values are secrets
    assert definition.api_headers == '{"Content-Type":"application/json"}'
    assert body["overrideApiAuthenticationType"] == "Bearer"
    assert body["toolCallTimeoutSeconds"] == 30
    assert body["waitSeconds"] is None
    assert body["fieldMapping"] is None
    assert body["hasOverrideApiPassword"] is False
    assert body["customFieldDefinitions"] == []
    assert definition.workspace == workspace


def test_only_name_and_action_type_are_needed(owner_client):
    response = owner_client.post(URL, {"name": "Close", "actionType": "Close"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["isActive"] is True
    assert body["isFunctionTool"] is False
    assert body["description"] is None


def test_enum_values_bind_case_insensitively(owner_client):
    response = owner_client.post(
        URL,
        {
            "name": "Call",
            "actionType": "apicall",
            "apiEndpoint": "/customers",
            "apiMethod": "post",
            "overrideApiAuthenticationType": "basic",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["actionType"], body["apiMethod"], body["overrideApiAuthenticationType"]) == (
        "ApiCall",
        "POST",
        "Basic",
    )


def test_the_time_zone_defaults_to_the_callers(client_for, owner, workspace):
    Membership.objects.filter(user=owner, workspace=workspace).update(timezone="America/Denver")
    client = client_for(owner, workspace, [Scope.SETTINGS_MANAGE])
    response = client.post(
        URL, {"name": "Wait", "actionType": "Wait", "waitSeconds": 0}, format="json"
    )
    assert response.json()["actionScheduleTimeZoneId"] == "America/Denver"


def test_without_a_member_time_zone_the_workspaces_is_used(owner_client, workspace):
    assert workspace.timezone == "Europe/Amsterdam"
    response = owner_client.post(
        URL,
        {"name": "Wait", "actionType": "Wait", "waitSeconds": 0, "actionScheduleTimeZoneId": None},
        format="json",
    )
    assert response.json()["actionScheduleTimeZoneId"] == "Europe/Amsterdam"


def test_a_given_time_zone_is_normalised(owner_client):
    response = owner_client.post(
        URL,
        {
            "name": "Wait",
            "actionType": "Wait",
            "waitSeconds": 0,
            "actionScheduleTimeZoneId": "asia/tokyo",
        },
        format="json",
    )
    assert response.json()["actionScheduleTimeZoneId"] == "Asia/Tokyo"


VALID = {"name": "Call CRM", "actionType": "ApiCall", "apiEndpoint": "/customers"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": None}, "name", "may not be null"),
        ({"name": ""}, "name", "may not be blank"),
        ({"name": "x" * 101}, "name", "no more than 100 characters"),
        ({"description": "x" * 101}, "description", "no more than 100 characters"),
        ({"actionType": "Teleport"}, "actionType", "is not one of: ApiCall"),
        ({"apiHeaders": "{not json"}, "apiHeaders", "Must be valid JSON"),
        ({"apiHeaders": "[1, 2]"}, "apiHeaders", "Must be a JSON object"),
        ({"fieldMapping": "nope"}, "fieldMapping", "Must be valid JSON"),
        ({"responseFieldMapping": "3"}, "responseFieldMapping", "Must be a JSON object"),
        ({"conditionalRules": "{'single': 'quotes'}"}, "conditionalRules", "Must be valid JSON"),
        (
            {"functionParametersSchema": '{"type": "strin"}'},
            "functionParametersSchema",
            "Not a valid JSON Schema",
        ),
        (
            {"functionParametersSchema": '{"type": "object", "required": "city"}'},
            "functionParametersSchema",
            "Not a valid JSON Schema",
        ),
        ({"functionParametersSchema": "[]"}, "functionParametersSchema", "JSON Schema"),
        ({"waitSeconds": -1}, "waitSeconds", "greater than or equal to 0"),
        ({"toolCallTimeoutSeconds": 0}, "toolCallTimeoutSeconds", "greater than or equal to 1"),
        ({"toolCallTimeoutSeconds": 301}, "toolCallTimeoutSeconds", "less than or equal to 300"),
        (
            {"actionScheduleTimeZoneId": "Mars/Olympus"},
            "actionScheduleTimeZoneId",
            "is not an IANA time zone",
        ),
        ({"apiMethod": "FETCH"}, "apiMethod", "is not one of: GET, POST, PUT, PATCH, DELETE"),
        ({"overrideApiAuthenticationType": "Digest"}, "overrideApiAuthenticationType", "None"),
        ({"overrideApiBaseUrl": "ftp://crm.example.com"}, "overrideApiBaseUrl", "http(s) URL"),
        ({"isActive": "maybe"}, "isActive", "Must be a valid boolean"),
    ],
)
def test_create_names_each_bad_field(owner_client, changes, field, message):
    body = problem(owner_client.post(URL, {**VALID, **changes}, format="json"), 400)
    assert body["code"] == "invalid_request"
    assert list(body["errors"]) == [field]
    assert message in body["errors"][field][0]
    assert ActionDefinition.objects.count() == 0


def test_name_is_required(owner_client):
    body = problem(owner_client.post(URL, {"actionType": "Close"}, format="json"), 400)
    assert body["errors"] == {"name": ["This field is required."]}


def test_every_bad_field_is_named_at_once(owner_client):
    body = problem(
        owner_client.post(
            URL,
            {
                "name": "",
                "actionType": "Nope",
                "apiHeaders": "{",
                "waitSeconds": -1,
                "toolCallTimeoutSeconds": 301,
                "actionScheduleTimeZoneId": "Nowhere/Town",
            },
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {
        "name",
        "actionType",
        "apiHeaders",
        "waitSeconds",
        "toolCallTimeoutSeconds",
        "actionScheduleTimeZoneId",
    }


def test_a_valid_json_schema_is_accepted(owner_client):
    schema = '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}'
    response = owner_client.post(
        URL,
        {**VALID, "isFunctionTool": True, "functionParametersSchema": schema},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["functionParametersSchema"] == schema


def test_malformed_json_is_a_400(owner_client):
    response = owner_client.post(URL, "{", content_type="application/json")
    assert problem(response, 400)["code"] == "malformed_request"


def test_priority_is_not_a_field_of_the_definition(owner_client):
    response = owner_client.post(URL, {**VALID, "priority": 5}, format="json")
    assert response.status_code == 201
    assert "priority" not in response.json()


# --- list
def test_the_list_is_a_paginated_result_sorted_by_name(owner_client, workspace):
    for name in ("Charlie", "alpha", "Bravo"):
        make_definition(workspace, name=name)
    body = owner_client.get(URL).json()
    assert set(body) == {"items", "pageNumber", "pageSize", "totalCount", "totalPages"}
    assert (body["pageNumber"], body["pageSize"], body["totalCount"], body["totalPages"]) == (
        1,
        10,
        3,
        1,
    )
    assert [item["name"] for item in body["items"]] == ["Bravo", "Charlie", "alpha"]
    assert set(body["items"][0]) == READ_KEYS


def test_the_list_pages(owner_client, workspace):
    for n in range(5):
        make_definition(workspace, name=f"A{n}")
    body = owner_client.get(URL, {"pageNumber": 2, "pageSize": 2}).json()
    assert [item["name"] for item in body["items"]] == ["A2", "A3"]
    assert (body["totalCount"], body["totalPages"]) == (5, 3)
    past_the_end = owner_client.get(URL, {"pageNumber": 9, "pageSize": 2}).json()
    assert past_the_end["items"] == []


@pytest.mark.parametrize(
    ("sort_by", "sort_order", "expected"),
    [
        ("Name", "desc", ["Wait", "Reply", "Close"]),
        ("actiontype", "asc", ["Close", "Reply", "Wait"]),
        ("ActionID", "DESC", ["Reply", "Wait", "Close"]),
        ("CreatedAt", "asc", ["Close", "Wait", "Reply"]),
        ("IsActive", "asc", ["Wait", "Close", "Reply"]),
    ],
)
def test_the_list_sorts(owner_client, workspace, sort_by, sort_order, expected):
    make_definition(workspace, name="Close", action_type="Close")
    make_definition(workspace, name="Wait", action_type="Wait", is_active=False)
    make_definition(workspace, name="Reply", action_type="Reply")
    body = owner_client.get(URL, {"sortBy": sort_by, "sortOrder": sort_order}).json()
    assert [item["name"] for item in body["items"]] == expected


def test_bad_list_parameters_are_named(owner_client):
    body = problem(
        owner_client.get(
            URL, {"pageNumber": 0, "pageSize": 101, "sortBy": "Priority", "sortOrder": "up"}
        ),
        400,
    )
    assert set(body["errors"]) == {"pageNumber", "pageSize", "sortBy", "sortOrder"}
    assert "Name, ActionType, IsActive, ActionID, CreatedAt" in body["errors"]["sortBy"][0]


def test_query_parameter_names_match_case_insensitively(owner_client, workspace):
    for n in range(3):
        make_definition(workspace, name=f"A{n}")
    body = owner_client.get(URL, {"pagesize": 1, "PAGENUMBER": 2}).json()
    assert [item["name"] for item in body["items"]] == ["A1"]


def test_the_list_runs_a_constant_number_of_queries(
    owner_client, workspace, django_assert_num_queries
):
    for n in range(30):
        definition = make_definition(workspace, name=f"A{n:02}")
        CustomFieldDefinition.objects.create(workspace=workspace, action=definition, name="f")
    # key lookup, last-used touch, count, page, custom fields
    with django_assert_num_queries(5):
        assert len(owner_client.get(URL, {"pageSize": 1}).json()["items"]) == 1
    with django_assert_num_queries(5):
        body = owner_client.get(URL, {"pageSize": 100}).json()
    assert len(body["items"]) == 30
    assert all(len(item["customFieldDefinitions"]) == 1 for item in body["items"])


def test_another_workspaces_definitions_are_not_listed(outsider_client, workspace):
    make_definition(workspace)
    assert outsider_client.get(URL).json()["totalCount"] == 0


# --- read
def test_it_reads_one_with_its_custom_fields(owner_client, workspace):
    definition = make_definition(workspace, name="Ticket form")
    field = CustomFieldDefinition.objects.create(
        workspace=workspace,
        action=definition,
        name="order_number",
        label="Order number",
        field_type="string",
        is_required=True,
    )
    response = owner_client.get(f"{URL}/{definition.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["actionID"] == definition.pk
    assert body["customFieldDefinitions"] == [
        {
            "customFieldDefinitionID": field.pk,
            "name": "order_number",
            "label": "Order number",
            "fieldType": "string",
            "isRequired": True,
        }
    ]


def test_reading_an_unknown_id_is_a_404(owner_client):
    assert problem(owner_client.get(f"{URL}/999999"), 404)["code"] == "not_found"
    problem(owner_client.get(f"{URL}/99999999999999999999999"), 404)


def test_it_answers_404_for_another_workspaces_record(outsider_client, workspace):
    definition = make_definition(workspace)
    problem(outsider_client.get(f"{URL}/{definition.pk}"), 404)
    update = {"actionID": definition.pk, "name": "Mine", "actionType": "Close"}
    problem(outsider_client.put(f"{URL}/{definition.pk}", update, format="json"), 404)
    problem(outsider_client.delete(f"{URL}/{definition.pk}"), 404)
    definition.refresh_from_db()
    assert definition.name == "Send reply"


# --- update
def test_put_updates_and_answers_204(owner_client, workspace):
    definition = make_definition(
        workspace, name="Call CRM", action_type="ApiCall", api_endpoint="/customers"
    )
    response = owner_client.put(
        f"{URL}/{definition.pk}",
        {
            "actionID": definition.pk,
            "name": "Call the CRM",
            "description": "Update the customer record",
            "actionType": "ApiCall",
            "apiMethod": "put",
            "isActive": False,
        },
        format="json",
    )
    assert response.status_code == 204, response.content
    assert response.content == b""
    definition.refresh_from_db()
    assert definition.name == "Call the CRM"
    assert definition.api_method == "PUT"
    assert definition.is_active is False
    assert definition.api_endpoint == "/customers"  # left out: kept


def test_put_with_null_clears_a_field(owner_client, workspace):
    definition = make_definition(workspace, api_endpoint="/customers", wait_seconds=5)
    body = {"actionID": definition.pk, "name": "n", "actionType": "Close"}
    response = owner_client.put(
        f"{URL}/{definition.pk}",
        {**body, "apiEndpoint": None, "waitSeconds": None},
        format="json",
    )
    assert response.status_code == 204
    definition.refresh_from_db()
    assert (definition.api_endpoint, definition.wait_seconds) == ("", None)


def test_put_with_another_action_id_is_a_400(owner_client, workspace):
    definition = make_definition(workspace)
    body = problem(
        owner_client.put(
            f"{URL}/{definition.pk}",
            {"actionID": definition.pk + 1, "name": "x", "actionType": "Close"},
            format="json",
        ),
        400,
    )
    assert body["errors"] == {"actionID": ["Does not match the id in the URL."]}


def test_put_without_action_id_is_a_400(owner_client, workspace):
    definition = make_definition(workspace)
    body = problem(
        owner_client.put(
            f"{URL}/{definition.pk}", {"name": "x", "actionType": "Close"}, format="json"
        ),
        400,
    )
    assert body["errors"] == {"actionID": ["This field is required."]}


def test_put_validates_like_create(owner_client, workspace):
    definition = make_definition(workspace)
    body = problem(
        owner_client.put(
            f"{URL}/{definition.pk}",
            {
                "actionID": definition.pk,
                "name": "x" * 101,
                "actionType": "Close",
                "waitSeconds": -1,
            },
            format="json",
        ),
        400,
    )
    assert set(body["errors"]) == {"name", "waitSeconds"}


def test_put_on_an_unknown_id_is_a_404(owner_client):
    response = owner_client.put(
        f"{URL}/424242", {"actionID": 424242, "name": "x", "actionType": "Close"}, format="json"
    )
    problem(response, 404)


def test_clearing_the_time_zone_on_update_resets_it_to_the_callers(owner_client, workspace):
    definition = make_definition(workspace, action_schedule_time_zone_id="Asia/Tokyo")
    owner_client.put(
        f"{URL}/{definition.pk}",
        {
            "actionID": definition.pk,
            "name": "n",
            "actionType": "Close",
            "actionScheduleTimeZoneId": "",
        },
        format="json",
    )
    definition.refresh_from_db()
    assert definition.action_schedule_time_zone_id == "Europe/Amsterdam"


# --- delete
def test_delete_answers_204_and_removes_the_links(owner_client, workspace):
    definition = make_definition(workspace)
    make_topic_action(workspace, action=definition)
    make_hook_action(workspace, action=definition)
    response = owner_client.delete(f"{URL}/{definition.pk}")
    assert response.status_code == 204
    assert not ActionDefinition.objects.exists()
    assert not TopicAction.objects.exists()
    assert not HookAction.objects.exists()
    problem(owner_client.delete(f"{URL}/{definition.pk}"), 404)


def test_deleting_an_unknown_id_is_a_404(owner_client):
    problem(owner_client.delete(f"{URL}/31337"), 404)


def test_patch_is_not_allowed(owner_client, workspace):
    definition = make_definition(workspace)
    problem(owner_client.patch(f"{URL}/{definition.pk}", {}, format="json"), 405)


# --- secrets
PASSWORD = "pa55-w0rd-plaintext"
TOKEN = "tok_9f8e7d6c5b4a-plaintext"


def stored_secrets(pk: int) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT override_api_password, override_api_token "
            "FROM automations_actiondefinition WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


def create_with_secrets(client) -> int:
    response = client.post(
        URL,
        {
            **VALID,
            "overrideApiUsername": "crm-bot",
            "overrideApiPassword": PASSWORD,
            "overrideApiToken": TOKEN,
            "overrideApiAuthenticationType": "Basic",
        },
        format="json",
    )
    assert response.status_code == 201
    assert PASSWORD not in response.content.decode()
    assert TOKEN not in response.content.decode()
    return response.json()["actionID"]


def test_secrets_are_encrypted_at_rest(owner_client):
    pk = create_with_secrets(owner_client)
    password, token = stored_secrets(pk)
    assert password and PASSWORD not in password
    assert token and TOKEN not in token
    definition = ActionDefinition.objects.get(pk=pk)
    assert (definition.override_api_password, definition.override_api_token) == (PASSWORD, TOKEN)


def test_no_read_ever_returns_a_secret(owner_client):
    pk = create_with_secrets(owner_client)
    for path in (URL, f"{URL}/{pk}", f"{URL}/available"):
        response = owner_client.get(path)
        assert response.status_code == 200
        text = response.content.decode()
        assert PASSWORD not in text and TOKEN not in text
        assert "overrideApiPassword" not in text and "overrideApiToken" not in text
    body = owner_client.get(f"{URL}/{pk}").json()
    assert (body["hasOverrideApiPassword"], body["hasOverrideApiToken"]) == (True, True)
    assert body["overrideApiUsername"] == "crm-bot"


def put(client, pk: int, **changes) -> None:
    response = client.put(
        f"{URL}/{pk}",
        {"actionID": pk, "name": "Call CRM", "actionType": "ApiCall", **changes},
        format="json",
    )
    assert response.status_code == 204, response.content


def test_updating_without_secrets_keeps_them(owner_client):
    pk = create_with_secrets(owner_client)
    put(owner_client, pk)
    put(owner_client, pk, overrideApiPassword=None, overrideApiToken=None)
    definition = ActionDefinition.objects.get(pk=pk)
    assert (definition.override_api_password, definition.override_api_token) == (PASSWORD, TOKEN)


def test_an_empty_secret_clears_it_and_a_value_replaces_it(owner_client):
    pk = create_with_secrets(owner_client)
    put(owner_client, pk, overrideApiPassword="", overrideApiToken="new-token")
    definition = ActionDefinition.objects.get(pk=pk)
    assert (definition.override_api_password, definition.override_api_token) == ("", "new-token")
    assert stored_secrets(pk)[0] == ""
    assert "new-token" not in stored_secrets(pk)[1]
    body = owner_client.get(f"{URL}/{pk}").json()
    assert (body["hasOverrideApiPassword"], body["hasOverrideApiToken"]) == (False, True)


# --- apiHeaders: values are secrets
API_KEY = "hdr_k3y_5up3r-s3cret-value"
HEADERS = '{"X-Api-Key":"' + API_KEY + '","X-Ticket":"{{ ticket.id }}"}'
MASKED = '{"X-Api-Key":"********","X-Ticket":"********"}'


def stored_headers(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_headers FROM automations_actiondefinition WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def create_with_headers(client) -> int:
    response = client.post(URL, {**VALID, "apiHeaders": HEADERS}, format="json")
    assert response.status_code == 201, response.content
    assert API_KEY not in response.content.decode()
    assert response.json()["apiHeaders"] == MASKED
    return response.json()["actionID"]


def test_it_never_returns_a_header_value(owner_client):
    pk = create_with_headers(owner_client)
    for path in (URL, f"{URL}/{pk}", f"{URL}/available"):
        response = owner_client.get(path)
        assert response.status_code == 200
        assert API_KEY not in response.content.decode()
    assert owner_client.get(f"{URL}/{pk}").json()["apiHeaders"] == MASKED
    assert owner_client.get(URL).json()["items"][0]["apiHeaders"] == MASKED


def test_it_stores_header_values_encrypted(owner_client):
    pk = create_with_headers(owner_client)
    at_rest = stored_headers(pk)
    assert at_rest and API_KEY not in at_rest and "X-Api-Key" not in at_rest
    assert ActionDefinition.objects.get(pk=pk).api_headers == HEADERS


def test_a_masked_header_value_keeps_the_stored_one(owner_client):
    pk = create_with_headers(owner_client)
    read = owner_client.get(f"{URL}/{pk}").json()
    put(owner_client, pk, apiHeaders=read["apiHeaders"])  # what was read, sent back
    assert ActionDefinition.objects.get(pk=pk).api_headers == HEADERS

    # Names match in any case; a header left out is dropped, a new one is added.
    put(owner_client, pk, apiHeaders='{"x-api-key":"********","X-New":"1"}')
    assert ActionDefinition.objects.get(pk=pk).api_headers == (
        '{"x-api-key":"' + API_KEY + '","X-New":"1"}'
    )
    put(owner_client, pk)  # apiHeaders left out: kept
    assert API_KEY in ActionDefinition.objects.get(pk=pk).api_headers


def test_a_new_header_value_replaces_the_stored_one(owner_client):
    pk = create_with_headers(owner_client)
    put(owner_client, pk, apiHeaders='{"X-Api-Key":"rotated-key-0001","X-Ticket":"********"}')
    definition = ActionDefinition.objects.get(pk=pk)
    assert definition.api_headers == '{"X-Api-Key":"rotated-key-0001","X-Ticket":"{{ ticket.id }}"}'
    assert "rotated-key-0001" not in stored_headers(pk)
    put(owner_client, pk, apiHeaders=None)
    assert ActionDefinition.objects.get(pk=pk).api_headers == ""


def test_a_masked_value_with_nothing_stored_behind_it_is_a_400(owner_client):
    response = owner_client.post(
        URL, {**VALID, "apiHeaders": '{"X-Api-Key":"********"}'}, format="json"
    )
    body = problem(response, 400)
    assert list(body["errors"]) == ["apiHeaders"]
    assert "'X-Api-Key'" in body["errors"]["apiHeaders"][0]
    assert not ActionDefinition.objects.exists()

    pk = create_with_headers(owner_client)
    response = owner_client.put(
        f"{URL}/{pk}",
        {**VALID, "actionID": pk, "apiHeaders": '{"X-Other":"********"}'},
        format="json",
    )
    assert list(problem(response, 400)["errors"]) == ["apiHeaders"]
    assert ActionDefinition.objects.get(pk=pk).api_headers == HEADERS


def test_settings_are_shared_by_the_workspace(client_for, member, workspace):
    definition = make_definition(workspace)
    client = client_for(member, workspace, [Scope.SETTINGS_MANAGE])
    assert client.get(URL).json()["totalCount"] == 1
    assert client.get(f"{URL}/{definition.pk}").status_code == 200


# --- what each type needs
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"actionType": "ApiCall"}, {"apiEndpoint"}),
        ({"actionType": "Reply"}, {"apiBodyTemplate"}),
        ({"actionType": "ReplySend", "apiBodyTemplate": "   "}, {"apiBodyTemplate"}),
        ({"actionType": "Send"}, {"apiBodyTemplate"}),
        ({"actionType": "Forward"}, {"forwardRecipients", "forwardPhoneNumber"}),
        ({"actionType": "Wait"}, {"waitSeconds"}),
    ],
)
def test_a_definition_missing_what_its_type_needs_is_a_400(owner_client, body, fields):
    response = owner_client.post(URL, {"name": "Incomplete", **body}, format="json")
    errors = problem(response, 400)["errors"]
    assert set(errors) == fields
    assert not ActionDefinition.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"actionType": "ApiCall", "overrideApiBaseUrl": "https://crm.example.com"},
        {"actionType": "Forward", "forwardPhoneNumber": "+14155550100"},
        {"actionType": "Close"},
        {"actionType": "DetectTopics"},
    ],
)
def test_a_definition_with_what_its_type_needs_is_created(owner_client, body):
    response = owner_client.post(URL, {"name": "Complete", **body}, format="json")
    assert response.status_code == 201, response.content


def test_changing_the_type_checks_the_new_types_needs(owner_client, workspace):
    definition = make_definition(workspace, action_type="Close")
    response = owner_client.put(
        f"{URL}/{definition.pk}",
        {"actionID": definition.pk, "name": "n", "actionType": "Wait"},
        format="json",
    )
    assert set(problem(response, 400)["errors"]) == {"waitSeconds"}
    definition.refresh_from_db()
    assert definition.action_type == "Close"


# --- templates must compile (nesting included)
TOO_DEEP = "{{ " + "(" * 100 + "ticket.id" + ")" * 100 + " }}"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"apiBodyTemplate": TOO_DEEP}, "apiBodyTemplate"),
        ({"apiBodyTemplate": '{"note": "' + TOO_DEEP + '"}'}, "apiBodyTemplate"),
        ({"apiEndpoint": "/customers/" + TOO_DEEP}, "apiEndpoint"),
        ({"apiHeaders": '{"X-Ticket": "' + TOO_DEEP + '"}'}, "apiHeaders"),
        ({"apiBodyTemplate": "{{ ticket.id "}, "apiBodyTemplate"),
        (
            {"actionType": "ReplySend", "apiEndpoint": None, "apiBodyTemplate": TOO_DEEP},
            "apiBodyTemplate",
        ),
    ],
)
def test_a_template_that_does_not_compile_is_a_400_naming_it(owner_client, changes, field):
    # 100 nested parentheses was a RecursionError at run time, leaving the step pending.
    body = problem(owner_client.post(URL, {**VALID, **changes}, format="json"), 400)
    assert list(body["errors"]) == [field]
    assert body["errors"][field][0].startswith("The template does not compile")
    assert not ActionDefinition.objects.exists()


def test_put_with_a_template_nested_too_deeply_is_a_400(owner_client, workspace):
    definition = make_definition(workspace)
    response = owner_client.put(
        f"{URL}/{definition.pk}",
        {
            "actionID": definition.pk,
            "name": "Send reply",
            "actionType": "ReplySend",
            "apiBodyTemplate": TOO_DEEP,
        },
        format="json",
    )
    assert "more than 20 levels deep" in problem(response, 400)["errors"]["apiBodyTemplate"][0]
    definition.refresh_from_db()
    assert definition.api_body_template == "Thanks for your message."


def test_a_template_a_type_does_not_run_is_not_checked(owner_client):
    # A Forward keeps whatever body it carries (hidden in the admin); it never renders it.
    body = {"name": "Fwd", "actionType": "Forward", "forwardRecipients": "team@example.com"}
    response = owner_client.post(URL, {**body, "apiBodyTemplate": TOO_DEEP}, format="json")
    assert response.status_code == 201, response.json()


# --- templates name only known variables (contacts.vocabulary, automations.context)
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"actionType": "Send", "apiEndpoint": None, "apiBodyTemplate": "{{ endUser.nmae }}"},
            "apiBodyTemplate",
            "Unknown variable 'endUser.nmae' (did you mean 'endUser.name'?).",
        ),
        (
            {"apiEndpoint": "/customers/{{ endUser.customerNumbr }}"},
            "apiEndpoint",
            "Unknown variable 'endUser.customerNumbr' (did you mean 'endUser.customerNumber'?).",
        ),
        (
            {"apiBodyTemplate": '{"status": "{{ tickt.status }}"}'},
            "apiBodyTemplate",
            "Unknown variable 'tickt' (did you mean 'ticket'?).",
        ),
        (
            {"apiHeaders": '{"X-Ticket": "{{ ticket.nope }}"}'},
            "apiHeaders",
            "Unknown variable 'ticket.nope'.",
        ),
    ],
)
def test_an_unknown_variable_is_a_400_naming_the_field_and_the_variable(
    owner_client, changes, field, message
):
    body = problem(owner_client.post(URL, {**VALID, **changes}, format="json"), 400)
    assert body["errors"] == {field: [message]}
    assert not ActionDefinition.objects.exists()


def test_put_with_an_unknown_variable_is_a_400_and_changes_nothing(owner_client, workspace):
    definition = make_definition(workspace)
    response = owner_client.put(
        f"{URL}/{definition.pk}",
        {
            "actionID": definition.pk,
            "name": "Send reply",
            "actionType": "ReplySend",
            "apiBodyTemplate": "Hi {{ contact.frist_name }}",
        },
        format="json",
    )
    assert problem(response, 400)["errors"] == {
        "apiBodyTemplate": [
            "Unknown variable 'contact.frist_name' (did you mean 'contact.firstname'?)."
        ]
    }
    definition.refresh_from_db()
    assert definition.api_body_template == "Thanks for your message."


def test_both_vocabularies_are_accepted(owner_client):
    template = (
        "Hi {{ endUser.firstName }} / {{ contact.firstname }} ({{ contact.customerNumber }}), "
        "about {{ ticket.subject }} / {{ conversation.subject }}: {{ message.body }} "
        "{{ topic.name }} {{ escalation.reason }} {{ call.transcript }} "
        "{{ changes.firstname.to }} {{ arguments.orderId }}"
    )
    body = {"name": "Reply", "actionType": "ReplySend", "apiBodyTemplate": template}
    response = owner_client.post(URL, body, format="json")
    assert response.status_code == 201, response.json()


def test_a_path_a_response_field_mapping_writes_is_known(owner_client, workspace):
    # An earlier ApiCall step maps its answer into the context; a later step reads it.
    lookup = {
        **VALID,
        "name": "Look up",
        "responseFieldMapping": '{"crm.accountId": "id", "endUser.tier": "tier"}',
    }
    assert owner_client.post(URL, lookup, format="json").status_code == 201
    reply = {
        "name": "Reply",
        "actionType": "ReplySend",
        "apiBodyTemplate": "{{ crm.accountId }} {{ endUser.tier }} {{ contact.tier }}",
    }
    assert owner_client.post(URL, reply, format="json").status_code == 201
    other = {**reply, "apiBodyTemplate": "{{ crm2.accountId }}"}
    assert list(problem(owner_client.post(URL, other, format="json"), 400)["errors"]) == [
        "apiBodyTemplate"
    ]
