"""The seeds' example requests, verbatim (paths, query strings and bodies copied
from the vendor docs), against the data `manage.py seed_demo` loads, with the key
it prints: each answers the status its doc gives.

Seed 004 (AnswerPal) names action 14, topic 21 and channel 3 (automations.demo);
its examples change state, so they run in the order a reader would try them.
"""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import Workspace
from automations.models import ActionDefinition, Channel, HookAction, Topic, TopicAction

pytestmark = pytest.mark.django_db

# --- Seed 004, copied from the doc ----------------------------------------------------------
ACTIONS_LIST = "/api/Actions?pageNumber=1&pageSize=10&sortBy=Name&sortOrder=asc"
ACTIONS_AVAILABLE = "/api/Actions/available"
ACTION_14 = "/api/Actions/14"
WAIT_SECONDS = "/api/HookActions/wait-seconds?channelId=3&hookName=PostTopicDetection"
CREATE_ACTION = """{
  "name": "Call CRM",
  "description": "Update the customer record",
  "actionType": "ApiCall",
  "apiEndpoint": "/customers/{{endUser.customerNumber}}",
  "apiMethod": "PUT",
  "apiHeaders": "{\\"Content-Type\\":\\"application/json\\"}",
  "apiBodyTemplate": "{\\"status\\":\\"{{ticket.status}}\\"}",
  "overrideApiAuthenticationType": "Bearer",
  "isActive": true,
  "isFunctionTool": false,
  "toolCallTimeoutSeconds": 30
}"""
UPDATE_ACTION_14 = """{
  "actionID": 14,
  "name": "Call CRM",
  "description": "Update the customer record",
  "actionType": "ApiCall",
  "apiMethod": "PUT",
  "isActive": true
}"""
CREATE_TOPIC_ACTION = """{
  "topicID": 21,
  "specialTopic": null,
  "documentID": 0,
  "channelID": 3,
  "specialChannel": null,
  "actionID": 14,
  "priority": 100
}"""


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def seed_demo() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def demo() -> APIClient:
    """An API client with the key seed_demo prints."""
    key = re.search(r"API key\s+(\S+)", seed_demo()).group(1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def post_json(client: APIClient, path: str, body: str):
    return client.post(path, body, content_type="application/json")


def put_json(client: APIClient, path: str, body: str):
    return client.put(path, body, content_type="application/json")


# --- Seed 004: /api/Actions ---------------------------------------------------------------
def test_the_list_example_shows_the_demo_definitions(demo):
    response = demo.get(ACTIONS_LIST)
    assert response.status_code == 200
    body = response.json()
    names = [item["name"] for item in body["items"]]
    assert names == sorted(names) and "Call CRM" in names
    assert (body["pageNumber"], body["pageSize"]) == (1, 10)
    call_crm = next(item for item in body["items"] if item["name"] == "Call CRM")
    assert (call_crm["actionID"], call_crm["actionType"]) == (14, "ApiCall")


def test_the_available_example_lists_the_demos_send_reply(demo):
    response = demo.get(ACTIONS_AVAILABLE)
    assert response.status_code == 200
    send_reply = next(item for item in response.json() if item["name"] == "Send reply")
    workspace = Workspace.objects.get()
    assert send_reply == {
        "actionID": send_reply["actionID"],
        "customerID": workspace.pk,  # the seed's 8: the workspace, set from the key
        "name": "Send reply",
        "description": "Generate and send an answer",
        "actionType": "ReplySend",
        "isActive": True,
    }


def test_the_create_example_answers_201(demo):
    response = post_json(demo, "/api/Actions", CREATE_ACTION)
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["actionID"] != 14  # a new definition next to the demo's
    assert created["apiEndpoint"] == "/customers/{{endUser.customerNumber}}"
    assert created["apiHeaders"] == '{"Content-Type":"********"}'


def test_the_update_example_answers_204_and_keeps_what_it_leaves_out(demo):
    response = put_json(demo, ACTION_14, UPDATE_ACTION_14)
    assert response.status_code == 204, response.content
    read = demo.get(ACTION_14).json()
    assert (read["name"], read["description"], read["apiMethod"]) == (
        "Call CRM",
        "Update the customer record",
        "PUT",
    )
    # Left out of the body, so kept: an ApiCall cannot go without its endpoint.
    assert read["apiEndpoint"] == "/customers/{{endUser.customerNumber}}"
    assert read["apiBodyTemplate"] == '{"status":"{{ticket.status}}"}'
    assert read["hasOverrideApiToken"] is True


def test_the_read_example_answers_200(demo):
    response = demo.get(ACTION_14)
    assert response.status_code == 200
    body = response.json()
    assert (body["actionID"], body["customerID"]) == (14, Workspace.objects.get().pk)
    assert body["customFieldDefinitions"] == []


def test_the_delete_example_answers_204_then_404(demo):
    assert demo.delete(ACTION_14).status_code == 204
    assert not ActionDefinition.objects.filter(pk=14).exists()
    assert demo.delete(ACTION_14).status_code == 404  # "an unknown id returns 404"


# --- Seed 004: /api/TopicActions and /api/HookActions ----------------------------------------
def test_the_topic_action_example_answers_201_then_409_and_reads_back(demo):
    response = post_json(demo, "/api/TopicActions", CREATE_TOPIC_ACTION)
    assert response.status_code == 201, response.json()
    link = response.json()
    assert (link["topicID"], link["channelID"], link["actionID"], link["priority"]) == (
        21,
        3,
        14,
        100,
    )
    read = demo.get(response.headers["Location"])
    assert read.status_code == 200
    assert read.json() == link
    # "409 Conflict: duplicate topic-action relationship"
    assert post_json(demo, "/api/TopicActions", CREATE_TOPIC_ACTION).status_code == 409
    assert TopicAction.objects.count() == 1


def test_the_wait_seconds_example_answers_the_seeds_45(demo):
    response = demo.get(WAIT_SECONDS)
    assert response.status_code == 200
    assert response.json() == {"totalWaitSeconds": 45}


def test_the_examples_in_a_readers_order(demo):
    """One after another, as in the doc: create, update, read, link, then delete."""
    assert post_json(demo, "/api/Actions", CREATE_ACTION).status_code == 201
    assert put_json(demo, ACTION_14, UPDATE_ACTION_14).status_code == 204
    assert demo.get(ACTION_14).status_code == 200
    assert post_json(demo, "/api/TopicActions", CREATE_TOPIC_ACTION).status_code == 201
    assert demo.get(WAIT_SECONDS).json() == {"totalWaitSeconds": 45}
    assert demo.delete(ACTION_14).status_code == 204  # and its topic link with it
    assert not TopicAction.objects.exists()


# --- The demo's ids ----------------------------------------------------------------------------
def test_it_creates_the_records_under_the_seeds_ids_once():
    first, second = seed_demo(), seed_demo()
    assert first == second
    assert "/api/Actions/14 (Call CRM), topic 21 (Billing), channel 3 (Support inbox)" in first
    assert ActionDefinition.objects.filter(pk=14, name="Call CRM").exists()
    assert Topic.objects.filter(pk=21, name="Billing").exists()
    assert Channel.objects.filter(pk=3, name="Support inbox").exists()
    assert ActionDefinition.objects.count() == 3  # Call CRM, Send reply, Wait 45 seconds
    assert (Topic.objects.count(), Channel.objects.count(), HookAction.objects.count()) == (1, 1, 1)
    assert not TopicAction.objects.exists()  # the seed's POST creates the first


def test_records_created_after_the_demo_take_higher_ids(demo):
    """The sequences follow the explicit ids (PostgreSQL), so inserts do not collide."""
    action = post_json(demo, "/api/Actions", CREATE_ACTION).json()
    assert action["actionID"] > 14
    topic = demo.post("/api/Topics", {"name": "Shipping"}, format="json")
    assert topic.status_code == 201 and topic.json()["topicID"] > 21
    channel = demo.post("/api/Channels", {"name": "Chat", "kind": "chat"}, format="json")
    assert channel.status_code == 201 and channel.json()["channelID"] > 3


def test_a_deleted_demo_record_comes_back_under_its_id(demo):
    assert demo.delete(ACTION_14).status_code == 204
    seed_demo()
    assert ActionDefinition.objects.filter(pk=14, name="Call CRM").exists()
    assert put_json(demo, ACTION_14, UPDATE_ACTION_14).status_code == 204


def test_an_id_already_taken_is_left_alone_and_the_one_used_is_printed(other_workspace):
    from tests.factories import make_definition

    taken = make_definition(other_workspace, "Someone else's")
    ActionDefinition.objects.filter(pk=taken.pk).update(id=14)
    text = seed_demo()
    call_crm = ActionDefinition.objects.exclude(workspace=other_workspace).get(name="Call CRM")
    assert call_crm.pk != 14
    assert f"/api/Actions/{call_crm.pk} (Call CRM)" in text
    assert ActionDefinition.objects.get(pk=14).name == "Someone else's"


# --- Seeds 000-003 ------------------------------------------------------------------------------
def test_the_seed_003_example_lists_its_two_scheduled_sms(demo):
    response = demo.get("/functions/v1/scheduled-actions?status=pending")
    assert response.status_code == 200
    body = response.json()
    sms = [record for record in body["data"] if record["action_type"] == "send_sms"]
    assert [(r["id"], r["status"], r["parameters"], r["retry_count"]) for r in sms] == [
        (
            "123e4567-e89b-12d3-a456-426614174000",
            "pending",
            {
                "recipient_phone": "+14155551234",
                "recipient_name": "John Smith",
                "message": "Your appointment is in 1 hour!",
            },
            0,
        ),
        (
            "456e7890-e89b-12d3-a456-426614174000",
            "pending",
            {
                "recipient_phone": "+14155555678",
                "recipient_name": "Jane Doe",
                "message": "Follow-up: How was your experience?",
            },
            0,
        ),
    ]
    one = demo.get("/functions/v1/scheduled-actions/123e4567-e89b-12d3-a456-426614174000")
    assert one.status_code == 200
    assert one.json()["data"]["parameters"]["recipient_name"] == "John Smith"


def test_the_seed_001_list_shows_the_demos_open_actions(demo):
    response = demo.get("/v2/actions")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data and {action["status"] for action in data} == {"in_progress"}


def test_the_seed_002_list_shows_the_demo_contacts(demo):
    response = demo.get("/v1/contacts")
    assert response.status_code == 200
    emails = {contact["email"] for contact in response.json()["contacts"]}
    assert {"ada@example.com", "jane.doe@example.com"} <= emails
