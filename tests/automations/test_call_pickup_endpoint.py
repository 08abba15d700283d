"""POST /v1/calls/pickup: the answered call is recorded, then OnPhonePickup and
OnPhonePickupSay run in that order with the call in their context."""

from __future__ import annotations

import pytest

from automations.models import HookRun
from contacts.models import Contact, ContactEvent, Conversation, Message
from outreach.models import Action
from tests.automations import drain_steps
from tests.factories import make_definition, make_hook_action

pytestmark = pytest.mark.django_db

URL = "/v1/calls/pickup"
CALL = {"from": "+1 415 555 0123", "to": "+14155550100", "call_id": "CA123", "transcript": "Hi"}


def test_it_records_the_call_and_runs_pickup_then_say(
    owner_client, workspace, make_contact, email_identity, django_capture_on_commit_callbacks
):
    contact = make_contact("dana@example.com", phone="+14155550123")
    make_hook_action(
        workspace,
        hook_name="OnPhonePickupSay",
        action=make_definition(
            workspace, "Tell the team", action_type="Forward", forward_recipients="team@example.com"
        ),
    )
    make_hook_action(
        workspace,
        hook_name="OnPhonePickup",
        action=make_definition(workspace, "w", action_type="Wait"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(URL, CALL, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["contact_id"], body["replayed"]) == (contact.public_id, False)
    drain_steps(django_capture_on_commit_callbacks)

    conversation = Conversation.objects.get(public_id=body["conversation_id"])
    assert (conversation.channel, conversation.contact, conversation.external_thread_id) == (
        "phone",
        contact,
        "CA123",
    )
    message = Message.objects.get(conversation=conversation)
    assert (message.from_address, message.body) == ("+14155550123", "Hi")
    runs = list(HookRun.objects.order_by("id"))
    assert [r.hook_name for r in runs] == ["OnPhonePickup", "OnPhonePickupSay"]
    assert runs[1].context["call"] == {
        "id": "CA123",
        "from": "+14155550123",
        "to": "+14155550100",
        "transcript": "Hi",
    }
    forwarded = Action.objects.get()
    assert forwarded.params["to"] == "team@example.com"
    assert "Hi" in forwarded.params["body"]
    assert ContactEvent.objects.filter(contact=contact, type="call.answered").exists()


def test_the_same_call_again_is_a_replay(owner_client, workspace):
    make_hook_action(
        workspace,
        hook_name="OnPhonePickup",
        action=make_definition(workspace, "w", action_type="Wait"),
    )
    first = owner_client.post(URL, CALL, format="json")
    again = owner_client.post(URL, CALL, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["replayed"] is True
    assert again.json()["conversation_id"] == first.json()["conversation_id"]
    assert HookRun.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_an_unknown_caller_has_no_contact(owner_client):
    response = owner_client.post(URL, CALL, format="json")
    assert response.status_code == 201
    assert response.json()["contact_id"] is None
    assert not Contact.objects.exists()


def test_bad_numbers_are_a_400_naming_them(owner_client):
    response = owner_client.post(URL, {"from": "555", "to": "+1", "call_id": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"from", "to", "call_id"}
    assert not Conversation.objects.exists()


def test_the_same_call_id_in_another_workspace_is_another_call(
    owner_client, client_for, outsider, other_workspace
):
    assert owner_client.post(URL, CALL, format="json").status_code == 201
    other = client_for(outsider, other_workspace, ["contacts:write"])
    assert other.post(URL, CALL, format="json").status_code == 201
    assert Conversation.objects.count() == 2


def test_it_needs_contacts_write(client_for, owner, workspace):
    client = client_for(owner, workspace, ["contacts:read"])
    assert client.post(URL, CALL, format="json").status_code == 403
