"""The action definition admin, through Django's test client: the form by type,
service validation on the fields, write-only secrets, tenancy, custom fields.

Writes go through automations.services, so the tests assert the database too.
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection

from accounts.models import Membership
from automations import services
from automations.admin.definitions import FIELD_NAMES
from automations.models import ActionDefinition, CustomFieldDefinition
from tests.admin_helpers import field_errors, form_data, logged_in, messages_of, staff_client
from tests.automations import DEFINITIONS, SEED_API_CALL, change_url
from tests.factories import make_api_call, make_reply

pytestmark = pytest.mark.django_db

ADD = f"{DEFINITIONS}add/"
PASSWORD = "pw-Sup3r-s3cret-Basic"
TOKEN = "tok_live_N0t-f0r-y0ur-3yes"


ADD_BASE = {
    "name": "Auto-reply",
    "description": "",
    "is_active": "on",
    "custom_field_definitions-TOTAL_FORMS": "0",
    "custom_field_definitions-INITIAL_FORMS": "0",
    "custom_field_definitions-MIN_NUM_FORMS": "0",
    "custom_field_definitions-MAX_NUM_FORMS": "1000",
}


def add_data(workspace, **fields) -> dict:
    return {**ADD_BASE, "workspace": str(workspace.pk), **fields}


# --- The list ----------------------------------------------------------------------------
def test_the_list_shows_name_type_active_and_updated_with_search_and_filters(staff, workspace):
    make_reply(workspace, "Reply to billing")
    make_api_call(workspace, "Call CRM", is_active=False)

    response = staff.get(DEFINITIONS)
    assert response.status_code == 200
    assert [d.name for d in response.context["cl"].result_list] == ["Call CRM", "Reply to billing"]
    assert list(response.context["cl"].list_display) == [
        "action_checkbox",
        "name",
        "action_type",
        "is_active",
        "updated_at",
    ]  # one workspace: no workspace column

    found = staff.get(DEFINITIONS, {"q": "billing"}).context["cl"].result_list
    assert [d.name for d in found] == ["Reply to billing"]
    by_type = staff.get(DEFINITIONS, {"action_type__exact": "ApiCall"}).context["cl"].result_list
    assert [d.name for d in by_type] == ["Call CRM"]
    inactive = staff.get(DEFINITIONS, {"is_active__exact": "0"}).context["cl"].result_list
    assert [d.name for d in inactive] == ["Call CRM"]


# --- The form by type ------------------------------------------------------------------------
def test_the_add_page_groups_fields_by_type_and_preselects_the_workspace(staff, workspace):
    response = staff.get(ADD)
    assert response.status_code == 200
    html = response.content.decode()
    form = response.context["adminform"].form
    assert form.initial["workspace"] == workspace.pk
    assert form.initial["action_schedule_time_zone_id"] == "Europe/Amsterdam"  # the workspace's
    assert "automations/action_definition_form.js" in html

    fieldsets = {fs.name: fs.classes for fs in response.context["adminform"]}
    assert fieldsets["Core"] == ""
    assert fieldsets["Outbound API call"] == "type-specific for-ApiCall"
    assert fieldsets["Body template"] == (
        "type-specific for-ApiCall for-Reply for-ReplySend for-Send"
    )
    assert fieldsets["Outbound authentication overrides"] == "type-specific for-ApiCall"
    assert fieldsets["Forward"] == "type-specific for-Forward"
    assert fieldsets["Wait"] == "type-specific for-Wait"
    assert fieldsets["Runtime controls"] == ""
    assert fieldsets["Function tool"] == ""


def test_creating_a_reply_definition_goes_through_the_service(staff, workspace):
    response = staff.post(
        ADD,
        add_data(
            workspace,
            name="Auto-reply to billing questions",
            action_type="Reply",
            api_body_template="Hi {{ endUser.firstName }}, thanks for your message.",
            conditional_rules='{"==": [{"var": "topic.name"}, "Billing"]}',
            action_schedule_time_zone_id="",
        ),
    )
    assert response.status_code == 302, field_errors(response)
    definition = ActionDefinition.objects.get()
    assert definition.workspace == workspace
    assert (definition.name, definition.action_type) == ("Auto-reply to billing questions", "Reply")
    assert definition.api_body_template.startswith("Hi {{ endUser.firstName }}")
    # A blank timezone is the user's in the workspace (the workspace's: the member set none).
    assert definition.action_schedule_time_zone_id == "Europe/Amsterdam"
    assert LogEntry.objects.filter(object_id=str(definition.pk)).count() == 1


def test_the_default_timezone_is_the_members_own_when_set(staff, workspace, owner):
    Membership.objects.filter(user=owner, workspace=workspace).update(timezone="America/Denver")
    assert staff.get(ADD).context["adminform"].form.initial["action_schedule_time_zone_id"] == (
        "America/Denver"
    )
    data = add_data(workspace, action_type="Close", action_schedule_time_zone_id="")
    assert staff.post(ADD, data).status_code == 302
    assert ActionDefinition.objects.get().action_schedule_time_zone_id == "America/Denver"


def test_editing_through_the_form_changes_only_what_was_changed(staff, workspace):
    definition = make_api_call(workspace, action_schedule_time_zone_id="Asia/Tokyo")
    page = staff.get(change_url(definition))
    data = form_data(page)
    data["api_headers"] = '{"X-Ticket": "{{ ticket.id }}"}'
    data["api_method"] = "POST"
    response = staff.post(change_url(definition), data)
    assert response.status_code == 302, field_errors(response)
    definition.refresh_from_db()
    assert definition.api_headers == '{"X-Ticket": "{{ ticket.id }}"}'
    assert definition.api_method == "POST"
    assert definition.action_schedule_time_zone_id == "Asia/Tokyo"
    change = LogEntry.objects.filter(object_id=str(definition.pk)).get()
    assert "API headers" in change.get_change_message()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("api_headers", "{not json", "Must be valid JSON"),
        ("api_headers", '["a list"]', "Must be a JSON object."),
        ("field_mapping", "42", "Must be a JSON object."),
        ("response_field_mapping", '{"a": ', "Must be valid JSON"),
        ("conditional_rules", "{oops}", "Must be valid JSON"),
        ("function_parameters_schema", '{"type": "nope"}', "Not a valid JSON Schema"),
    ],
)
def test_json_settings_get_readable_errors_on_their_field(staff, workspace, field, value, message):
    data = add_data(
        workspace,
        action_type="ApiCall",
        api_endpoint="https://crm.example.com/x",
        **{field: value},
    )
    errors = field_errors(staff.post(ADD, data))
    assert list(errors) == [field]
    assert errors[field][0].startswith(message)
    assert not ActionDefinition.objects.exists()


@pytest.mark.parametrize(
    ("action_type", "extra", "field"),
    [
        ("Reply", {}, "api_body_template"),
        ("Send", {"api_body_template": "   "}, "api_body_template"),
        ("Wait", {}, "wait_seconds"),
        ("Forward", {}, "forward_recipients"),
        ("ApiCall", {}, "api_endpoint"),
    ],
)
def test_what_a_type_cannot_run_without_is_required(staff, workspace, action_type, extra, field):
    errors = field_errors(staff.post(ADD, add_data(workspace, action_type=action_type, **extra)))
    assert field in errors
    assert not ActionDefinition.objects.exists()


def test_an_endpoint_template_that_does_not_compile_is_refused(staff, workspace):
    data = add_data(workspace, action_type="ApiCall", api_endpoint="https://x.example.com/{{ a")
    errors = field_errors(staff.post(ADD, data))
    assert errors["api_endpoint"][0].startswith("The template does not compile"), errors
    assert not ActionDefinition.objects.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"api_endpoint": "/customers"}, "API endpoint: A relative endpoint needs a base URL"),
        (
            {"api_endpoint": "https://x.example.com", "override_api_authentication_type": "Bearer"},
            "Token: Bearer authentication needs a token",
        ),
        (
            {"api_endpoint": "https://x.example.com", "override_api_authentication_type": "Basic"},
            "Username: Basic authentication needs a username",
        ),
    ],
)
def test_what_a_run_would_still_fail_on_is_saved_with_a_warning(staff, workspace, extra, message):
    """The API accepts these (the seed's own example has the first two), so the admin
    does too, and says what is missing."""
    response = staff.post(ADD, add_data(workspace, action_type="ApiCall", **extra), follow=True)
    assert response.redirect_chain, field_errors(response)
    assert ActionDefinition.objects.count() == 1
    warnings = [m for m in messages_of(response) if m.startswith("Saved, but not runnable yet")]
    assert len(warnings) == 1 and message in warnings[0], messages_of(response)


def test_a_runnable_definition_saves_without_a_warning(staff, workspace):
    data = add_data(workspace, action_type="ApiCall", api_endpoint="https://x.example.com/c")
    response = staff.post(ADD, data, follow=True)
    assert ActionDefinition.objects.count() == 1
    assert not [m for m in messages_of(response) if "not runnable" in m]


def test_a_reply_body_that_does_not_compile_is_an_error(staff, workspace):
    data = add_data(workspace, action_type="Reply", api_body_template="Hi {{ endUser.firstName")
    errors = field_errors(staff.post(ADD, data))
    assert errors["api_body_template"][0].startswith("The template does not compile")


def test_every_error_of_the_page_shows_at_once(staff, workspace):
    data = add_data(
        workspace,
        name="",
        action_type="Wait",
        wait_seconds="soon",
        conditional_rules="{",
        tool_call_timeout_seconds="900",
    )
    errors = field_errors(staff.post(ADD, data))
    assert set(errors) == {"name", "wait_seconds", "conditional_rules", "tool_call_timeout_seconds"}
    assert errors["tool_call_timeout_seconds"] == ["Must be between 1 and 300."]


# --- Secrets -----------------------------------------------------------------------------------
def _with_secrets(staff, workspace) -> ActionDefinition:
    response = staff.post(
        ADD,
        add_data(
            workspace,
            name="Call CRM",
            action_type="ApiCall",
            api_endpoint="https://crm.example.com/customers",
            override_api_authentication_type="Basic",
            override_api_username="crm-user",
            override_api_password=PASSWORD,
            override_api_token=TOKEN,
        ),
    )
    assert response.status_code == 302, field_errors(response)
    return ActionDefinition.objects.get()


def test_secrets_are_stored_encrypted_and_never_shown_on_any_page(staff, workspace):
    definition = _with_secrets(staff, workspace)
    assert (definition.override_api_password, definition.override_api_token) == (PASSWORD, TOKEN)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT override_api_password, override_api_token FROM automations_actiondefinition"
        )
        stored = cursor.fetchone()
    assert PASSWORD not in stored[0] and TOKEN not in stored[1]  # ciphertext at rest

    # An edit that sets a new token: the history lists the field, not its value.
    data = form_data(staff.get(change_url(definition)))
    data["override_api_token"] = TOKEN + "-2"
    assert staff.post(change_url(definition), data).status_code == 302

    pages = {
        "change": change_url(definition),
        "list": DEFINITIONS,
        "history": f"{DEFINITIONS}{definition.pk}/history/",
        "test": f"{DEFINITIONS}{definition.pk}/test/",
        "delete": f"{DEFINITIONS}{definition.pk}/delete/",
        "index": "/admin/",
    }
    for name, url in pages.items():
        response = staff.get(url)
        assert response.status_code == 200, name
        html = response.content.decode()
        for secret in (PASSWORD, TOKEN, TOKEN + "-2"):
            assert secret not in html, f"{name} page shows a secret"
    history = staff.get(pages["history"]).content.decode()
    assert "Token" in history  # the changed field is named
    change_page = staff.get(pages["change"]).content.decode()
    assert "A password is stored. Leave blank to keep the stored value." in change_page
    assert "A token is stored. Leave blank to keep the stored value." in change_page
    assert re.search(r'<input type="password" name="override_api_password"[^>]*>', change_page)
    assert 'name="clear_override_api_password"' in change_page


def test_a_view_only_user_sees_whether_a_secret_is_stored_not_the_secret(staff, workspace, member):
    definition = _with_secrets(staff, workspace)
    viewer = staff_client(member, app_label="automations", codenames=("view_actiondefinition",))
    response = viewer.get(change_url(definition))
    assert response.status_code == 200
    html = response.content.decode()
    assert PASSWORD not in html and TOKEN not in html
    assert "stored (hidden)" in html
    assert "Test</a>" not in html  # no Test button without change permission
    assert viewer.get(f"{DEFINITIONS}{definition.pk}/test/").status_code == 403


def test_a_blank_secret_keeps_the_stored_value_and_clear_removes_it(staff, workspace):
    definition = _with_secrets(staff, workspace)
    data = form_data(staff.get(change_url(definition)))
    assert "override_api_password" not in data  # never rendered, so never posted back
    data["description"] = "Updated"
    assert staff.post(change_url(definition), data).status_code == 302
    definition.refresh_from_db()
    assert (definition.description, definition.override_api_password) == ("Updated", PASSWORD)
    assert definition.override_api_token == TOKEN

    data = form_data(staff.get(change_url(definition)))
    data["clear_override_api_token"] = "on"
    assert staff.post(change_url(definition), data).status_code == 302
    definition.refresh_from_db()
    assert (definition.override_api_password, definition.override_api_token) == (PASSWORD, "")
    assert "No token is stored." in staff.get(change_url(definition)).content.decode()


def test_a_new_secret_and_clear_together_is_an_error(staff, workspace):
    definition = _with_secrets(staff, workspace)
    data = form_data(staff.get(change_url(definition)))
    data["override_api_password"] = "other"
    data["clear_override_api_password"] = "on"
    response = staff.post(change_url(definition), data)
    assert field_errors(response) == {
        "override_api_password": ["Enter a new password or clear the stored one, not both."]
    }
    assert "other" not in re.findall(r'value="([^"]*)"', response.content.decode())
    definition.refresh_from_db()
    assert definition.override_api_password == PASSWORD


def test_clearing_the_token_of_a_bearer_call_is_saved_with_a_warning(staff, workspace):
    """As on the API (`"overrideApiToken": ""` clears it): accepted, and said."""
    definition = make_api_call(
        workspace, override_api_authentication_type="Bearer", override_api_token=TOKEN
    )
    data = form_data(staff.get(change_url(definition)))
    data["clear_override_api_token"] = "on"
    response = staff.post(change_url(definition), data, follow=True)
    assert response.redirect_chain
    assert any("Bearer authentication needs a token" in m for m in messages_of(response))
    definition.refresh_from_db()
    assert definition.override_api_token == ""


# --- API headers: values are secrets -----------------------------------------------------
HEADER_KEY = "hdr-Adm1n-s3cret-v4lue"
HEADERS = '{"X-Api-Key": "' + HEADER_KEY + '", "X-Ticket": "{{ ticket.id }}"}'


def test_header_values_are_shown_masked_on_every_page(staff, workspace, member):
    definition = make_api_call(workspace, api_headers=HEADERS)
    pages = [
        change_url(definition),
        DEFINITIONS,
        f"{DEFINITIONS}{definition.pk}/history/",
        f"{DEFINITIONS}{definition.pk}/test/",
    ]
    for url in pages:
        response = staff.get(url)
        assert response.status_code == 200, url
        assert HEADER_KEY not in response.content.decode(), url
    form = staff.get(change_url(definition)).context["adminform"].form
    assert form["api_headers"].value() == '{"X-Api-Key":"********","X-Ticket":"********"}'

    viewer = staff_client(member, app_label="automations", codenames=("view_actiondefinition",))
    html = viewer.get(change_url(definition)).content.decode()
    assert HEADER_KEY not in html
    assert "X-Api-Key" in html and "********" in html


def test_a_masked_header_keeps_its_value_and_a_typed_one_replaces_it(staff, workspace):
    definition = make_api_call(workspace, api_headers=HEADERS)
    data = form_data(staff.get(change_url(definition)))
    data["description"] = "Updated"
    assert staff.post(change_url(definition), data).status_code == 302
    definition.refresh_from_db()
    assert (definition.description, definition.api_headers) == ("Updated", HEADERS)

    data = form_data(staff.get(change_url(definition)))
    data["api_headers"] = '{"X-Api-Key": "********", "X-Ticket": "{{ ticket.status }}"}'
    assert staff.post(change_url(definition), data).status_code == 302
    definition.refresh_from_db()
    assert definition.api_headers == (
        '{"X-Api-Key":"' + HEADER_KEY + '","X-Ticket":"{{ ticket.status }}"}'
    )

    data = form_data(staff.get(change_url(definition)))
    data["api_headers"] = '{"X-Api-Key": "new-Adm1n-key"}'
    assert staff.post(change_url(definition), data).status_code == 302
    definition.refresh_from_db()
    assert definition.api_headers == '{"X-Api-Key": "new-Adm1n-key"}'
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_headers FROM automations_actiondefinition")
        assert "new-Adm1n-key" not in cursor.fetchone()[0]  # ciphertext at rest


def test_a_masked_header_with_nothing_stored_is_an_error(staff, workspace):
    data = add_data(
        workspace,
        name="Call CRM",
        action_type="ApiCall",
        api_endpoint="https://crm.example.com/customers",
        api_headers='{"X-Api-Key": "********"}',
    )
    errors = field_errors(staff.post(ADD, data))
    assert list(errors) == ["api_headers"]
    assert "'X-Api-Key'" in errors["api_headers"][0]
    assert not ActionDefinition.objects.exists()


# --- Tenancy ---------------------------------------------------------------------------------
def test_staff_of_another_workspace_cannot_see_or_choose_its_definitions(
    workspace, other_workspace, outsider
):
    mine = make_reply(other_workspace, "Globex reply")
    theirs = make_reply(workspace, "Acme reply")
    client = staff_client(outsider, app_label="automations")

    listed = client.get(DEFINITIONS).context["cl"].result_list
    assert [d.name for d in listed] == ["Globex reply"]
    assert client.get(change_url(theirs)).status_code == 302  # admin: "doesn't exist" redirect
    assert ActionDefinition.objects.filter(pk=theirs.pk).exists()
    assert client.get(f"{DEFINITIONS}{theirs.pk}/test/").status_code == 404
    assert client.get(f"{DEFINITIONS}{theirs.pk}/history/").status_code in (302, 404)
    assert client.get(change_url(mine)).status_code == 200

    add_page = client.get(ADD)
    choices = list(add_page.context["adminform"].form.fields["workspace"].queryset)
    assert choices == [other_workspace]
    errors = field_errors(client.post(ADD, add_data(workspace, action_type="Close")))
    assert "workspace" in errors
    assert ActionDefinition.objects.count() == 2


def test_a_superuser_chooses_among_every_workspace(db, workspace, other_workspace):
    from tests.factories import UserFactory

    root = UserFactory(username="root@example.org", is_staff=True, is_superuser=True)
    client = logged_in(root)
    form = client.get(ADD).context["adminform"].form
    assert set(form.fields["workspace"].queryset) == {workspace, other_workspace}
    assert "workspace" not in form.initial  # two workspaces: nothing preselected
    data = add_data(other_workspace, action_type="Close", action_schedule_time_zone_id="")
    assert client.post(ADD, data).status_code == 302
    created = ActionDefinition.objects.get()
    assert created.workspace == other_workspace
    assert created.action_schedule_time_zone_id == other_workspace.timezone


# --- Custom fields, delete ---------------------------------------------------------------------
def test_custom_fields_are_edited_inline(staff, workspace):
    definition = make_reply(workspace)
    data = form_data(staff.get(change_url(definition)))
    data.update(
        {
            "custom_field_definitions-TOTAL_FORMS": "1",
            "custom_field_definitions-0-name": "orderNumber",
            "custom_field_definitions-0-label": "Order number",
            "custom_field_definitions-0-field_type": "string",
            "custom_field_definitions-0-is_required": "on",
        }
    )
    response = staff.post(change_url(definition), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    field = CustomFieldDefinition.objects.get()
    assert (field.action, field.workspace, field.name, field.is_required) == (
        definition,
        workspace,
        "orderNumber",
        True,
    )


def test_deleting_goes_through_the_service(staff, workspace):
    definition = make_reply(workspace)
    response = staff.post(f"{DEFINITIONS}{definition.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ActionDefinition.objects.exists()


# --- One validation for the admin and the API ---------------------------------------------------


def as_form(workspace, body: dict) -> dict:
    """`body` (an /api/Actions DTO) entered field by field on the admin's add page."""
    data = {key: value for key, value in ADD_BASE.items() if key not in ("name", "is_active")}
    data["workspace"] = str(workspace.pk)
    for name, value in body.items():
        if value is True:
            data[FIELD_NAMES[name]] = "on"
        elif value is not False and value is not None:
            data[FIELD_NAMES[name]] = str(value)
    return data


def test_the_seeds_api_call_example_is_accepted_field_by_field(staff, workspace):
    response = staff.post(ADD, as_form(workspace, SEED_API_CALL))
    assert response.status_code == 302, field_errors(response)
    definition = ActionDefinition.objects.get()
    assert definition.api_endpoint == "/customers/{{endUser.customerNumber}}"
    assert definition.api_headers == '{"Content-Type":"application/json"}'
    assert definition.override_api_authentication_type == "Bearer"
    assert (definition.tool_call_timeout_seconds, definition.is_active) == (30, True)


# (changes to the seed's body, the field both refuse: None when both accept)
ONE_VALIDATION = [
    ({}, None),
    (
        {"apiMethod": "put", "actionType": "apicall", "overrideApiAuthenticationType": "bEARER"},
        None,
    ),
    ({"overrideApiAuthenticationType": "Basic"}, None),  # no username: a run-time warning
    ({"apiEndpoint": "https://crm.example.com/c", "overrideApiAuthenticationType": ""}, None),
    ({"actionScheduleTimeZoneId": "europe/amsterdam"}, None),
    ({"apiHeaders": '{"X-Ticket": "{{ ticket.id }}"}'}, None),
    ({"apiBodyTemplate": "  {{ ticket.status }}  "}, None),
    ({"apiEndpoint": ""}, "apiEndpoint"),
    ({"apiEndpoint": "/customers/{{ endUser.customerNumber"}, "apiEndpoint"),
    ({"apiHeaders": "[1]"}, "apiHeaders"),
    ({"apiHeaders": "{oops"}, "apiHeaders"),
    ({"apiHeaders": '{"X-Api-Key": "********"}'}, "apiHeaders"),
    ({"apiHeaders": '{"X-Ticket": "{{ ticket.id"}'}, "apiHeaders"),
    ({"apiBodyTemplate": '{"status": "{{ ticket.status"}'}, "apiBodyTemplate"),
    ({"apiBodyTemplate": "x" * 100_001}, "apiBodyTemplate"),
    ({"fieldMapping": '{"a": "' + "x" * 100_000 + '"}'}, "fieldMapping"),
    ({"overrideApiToken": "t" * 4097}, "overrideApiToken"),
    ({"overrideApiBaseUrl": "ftp://crm.example.com"}, "overrideApiBaseUrl"),
    ({"overrideApiAuthenticationType": "Digest"}, "overrideApiAuthenticationType"),
    ({"apiMethod": "FETCH"}, "apiMethod"),
    ({"toolCallTimeoutSeconds": 301}, "toolCallTimeoutSeconds"),
    ({"toolCallTimeoutSeconds": 0}, "toolCallTimeoutSeconds"),
    ({"description": "x" * 101}, "description"),
    ({"name": "x" * 101}, "name"),
    ({"name": ""}, "name"),
    ({"actionType": "Teleport"}, "actionType"),
    ({"actionScheduleTimeZoneId": "Mars/Olympus"}, "actionScheduleTimeZoneId"),
    ({"fieldMapping": "42"}, "fieldMapping"),
    ({"responseFieldMapping": "{"}, "responseFieldMapping"),
    ({"conditionalRules": "{oops}"}, "conditionalRules"),
    ({"functionParametersSchema": '{"type": "nope"}'}, "functionParametersSchema"),
    ({"actionType": "Wait"}, "waitSeconds"),
    ({"actionType": "Wait", "waitSeconds": -1}, "waitSeconds"),
    ({"actionType": "Forward"}, "forwardRecipients"),
    ({"actionType": "ReplySend", "apiBodyTemplate": "   "}, "apiBodyTemplate"),
]


@pytest.mark.parametrize(("changes", "refused"), ONE_VALIDATION)
def test_the_admin_accepts_and_refuses_what_the_api_does(
    staff, owner_client, workspace, changes, refused
):
    body = {**SEED_API_CALL, **changes}
    api = owner_client.post("/api/Actions", body, format="json")
    admin = staff.post(ADD, as_form(workspace, body))
    if refused is None:
        assert api.status_code == 201, api.json()
        assert admin.status_code == 302, field_errors(admin)
        assert ActionDefinition.objects.count() == 2
        by_api, by_admin = ActionDefinition.objects.order_by("id")
        for field in services.DEFINITION_FIELDS:  # stored alike, too
            assert getattr(by_api, field) == getattr(by_admin, field), field
    else:
        assert api.status_code == 400, api.json()
        assert refused in api.json()["errors"], api.json()
        assert FIELD_NAMES[refused] in field_errors(admin)
        assert not ActionDefinition.objects.exists()


# --- The template vocabulary and the preview -------------------------------------------------
def test_an_unknown_variable_is_an_error_on_its_field_as_on_the_api(staff, workspace):
    data = add_data(workspace, action_type="Reply", api_body_template="Hi {{ endUser.nmae }}")
    errors = field_errors(staff.post(ADD, data))
    assert errors["api_body_template"] == [
        "Unknown variable 'endUser.nmae' (did you mean 'endUser.name'?)."
    ]
    assert not ActionDefinition.objects.exists()
    # The hub's own names are accepted as AnswerPal's are.
    data["api_body_template"] = "Hi {{ contact.firstname }} / {{ endUser.firstName }}"
    assert staff.post(ADD, data).status_code == 302
    assert ActionDefinition.objects.get().api_body_template.startswith("Hi {{ contact.firstname")


def test_the_change_page_previews_the_saved_body_for_the_first_contact(
    staff, workspace, make_contact
):
    definition = make_reply(workspace, api_body_template="Hi {{ endUser.firstName }}!")
    page = staff.get(change_url(definition))
    preview = page.context["template_preview"]
    assert preview["body"] == "Hi Jane!" and "Jane Doe" in preview["for"]  # no contact yet

    make_contact("ada@example.com", firstname="Ada")
    page = staff.get(change_url(definition))
    preview = page.context["template_preview"]
    assert (preview["body"], preview["unknown"]) == ("Hi Ada!", {})
    assert preview["for"] == "Ada <ada@example.com>, the workspace's first contact"
    html = page.content.decode()
    assert 'id="template-preview-body">Hi Ada!<' in html
    assert f'formaction="{DEFINITIONS}{definition.pk}/preview/"' in html


def test_an_api_calls_preview_shows_the_request_line_and_body(staff, workspace):
    definition = make_api_call(
        workspace, api_body_template='{"status": "{{ ticket.status }}", "n": "{{ contact.name }}"}'
    )
    preview = staff.get(change_url(definition)).context["template_preview"]
    assert preview["method"] == "PUT"
    assert preview["url"] == "https://crm.example.com/customers/C-1001"
    assert json.loads(preview["body"]) == {"status": "open", "n": "Jane Doe"}


def test_the_preview_button_renders_the_unsaved_form_and_saves_nothing(staff, workspace):
    definition = make_reply(workspace, api_body_template="Hi!")
    data = form_data(staff.get(change_url(definition)))
    data["api_body_template"] = "Hello {{ contact.firstname }}, {{ ticket.stauts }}"
    response = staff.post(f"{DEFINITIONS}{definition.pk}/preview/", data)
    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview["body"].startswith("Hello Jane, ")
    assert preview["unknown"] == {
        "apiBodyTemplate": ["Unknown variable 'ticket.stauts' (did you mean 'ticket.status'?)."]
    }
    definition.refresh_from_db()
    assert definition.api_body_template == "Hi!"

    # On the add page too, before anything exists.
    data = add_data(workspace, action_type="Reply", api_body_template="Hi {{ endUser.firstName }}")
    response = staff.post(f"{DEFINITIONS}add/preview/", data)
    assert response.context["preview"]["body"] == "Hi Jane"
    assert ActionDefinition.objects.count() == 1


def test_the_preview_needs_the_change_permission(owner, workspace):
    definition = make_reply(workspace)
    viewer = staff_client(owner, app_label="automations", codenames=("view_actiondefinition",))
    assert viewer.get(change_url(definition)).status_code == 200
    assert viewer.post(f"{DEFINITIONS}{definition.pk}/preview/", {}).status_code == 403
    assert viewer.post(f"{DEFINITIONS}add/preview/", {}).status_code == 403
