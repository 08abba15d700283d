"""Actions are linked to the workspace's contact they reach."""

from __future__ import annotations

import pytest

from contacts.models import Contact

pytestmark = pytest.mark.django_db


def test_an_email_action_links_to_the_contact_by_email(make_action, make_contact):
    contact = make_contact("Jane@Example.com")
    action = make_action(params={"to": "jane@example.com", "subject": "s", "body": "b"})
    assert action.contact == contact


def test_an_sms_action_links_by_phone(make_action, make_contact, sms_identity):
    contact = make_contact("jane@example.com", phone="+14155551234")
    action = make_action(
        type="send_sms",
        identity=sms_identity,
        params={"recipient_phone": "+1 415 555 1234", "message": "hi"},
    )
    assert action.contact == contact


def test_no_match_leaves_it_unlinked(make_action, make_contact, other_workspace):
    make_contact("jane@example.com", workspace_=other_workspace)
    action = make_action(params={"to": "jane@example.com", "subject": "s", "body": "b"})
    assert action.contact is None


def test_an_explicit_contact_id_wins_and_must_be_ours(
    owner_client, email_identity, make_contact, other_workspace
):
    mine = make_contact("jane@example.com")
    theirs = make_contact("john@example.com", workspace_=other_workspace)
    body = {
        "type": "send_email",
        "identity_id": email_identity.public_id,
        "params": {"to": "someone@example.com", "subject": "s", "body": "b"},
    }
    response = owner_client.post(
        "/v1/actions", {**body, "contact_id": mine.public_id}, format="json"
    )
    assert response.json()["action"]["contact_id"] == mine.public_id
    response = owner_client.post(
        "/v1/actions", {**body, "contact_id": theirs.public_id}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"contact_id"}


def test_update_lifecycle_stage_needs_an_existing_contact(
    owner_client, email_identity, make_contact
):
    contact = make_contact("jane@example.com")
    body = {
        "type": "update_lifecycle_stage",
        "identity_id": email_identity.public_id,
        "params": {"contact_id": "ct_nobody", "stage": "customer", "reason": "Signed"},
    }
    response = owner_client.post("/v1/actions", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"params.contact_id"}
    body["params"]["contact_id"] = contact.public_id
    response = owner_client.post("/v1/actions", body, format="json")
    assert response.status_code == 201
    assert response.json()["action"]["contact_id"] == contact.public_id
    assert Contact.objects.get().lifecyclestage == ""  # it changes when the action executes


def test_a_reply_in_a_thread_links_to_the_threads_contact(make_action, make_contact):
    from contacts.models import Conversation

    contact = make_contact("jane@example.com")
    thread = Conversation.objects.create(
        workspace_id=contact.workspace_id, contact=contact, channel="email", subject="Hi"
    )
    action = make_action(type="email_message", params={"thread_id": thread.public_id, "body": "b"})
    assert action.contact == contact
