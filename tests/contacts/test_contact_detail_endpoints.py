"""GET /v1/contacts/:id (unified profile), events, conversations, email-threads, notes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.actors import Actor
from contacts import services
from contacts.models import Conversation, Message, Note
from outreach.services import action_decide

pytestmark = pytest.mark.django_db


def thread(contact, channel="email", subject="Intro", status="open", messages=0, start=None):
    start = start or timezone.now() - dt.timedelta(days=1)
    conversation = Conversation.objects.create(
        workspace_id=contact.workspace_id,
        contact=contact,
        channel=channel,
        subject=subject,
        status=status,
        last_message_at=start + dt.timedelta(minutes=messages),
    )
    for n in range(messages):
        Message.objects.create(
            workspace_id=contact.workspace_id,
            conversation=conversation,
            direction="outbound" if n % 2 == 0 else "inbound",
            from_address="sales@acme.example.com",
            to_address=contact.email,
            subject=subject,
            body=f"message {n}",
            sent_at=start + dt.timedelta(minutes=n),
        )
    return conversation


def test_retrieve_has_the_unified_profile_recent_actions_and_events(
    owner_client, make_contact, make_action
):
    contact = make_contact("jane@example.com", firstname="Jane", company="Initech")
    services.note_create(contact=contact, actor=Actor.system("t"), content="Met at a fair")
    thread(contact, messages=2)
    thread(contact, status="closed")
    pending = make_action(params={"to": "jane@example.com", "subject": "s", "body": "b"})
    make_action(params={"to": "jane@example.com", "subject": "s2", "body": "b"})
    action_decide(action=pending, actor=Actor.system("t"), decision="approve")
    contact.visitor_ids.create(workspace_id=contact.workspace_id, visitor_id="v-9")

    response = owner_client.get(f"/v1/contacts/{contact.public_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["contact"]["id"] == contact.public_id
    profile = body["unified_profile"]
    assert profile["properties"]["firstname"] == "Jane"
    assert profile["company"]["name"] == "Initech"
    assert profile["suppression"]["suppressed"] is False
    assert profile["action_counts"] == {"scheduled": 1, "pending_approval": 1}
    assert profile["last_event"]["type"] == "note.created"
    assert profile["open_conversations"] == 1
    assert profile["note_count"] == 1
    assert profile["visitor_ids"] == ["v-9"]
    assert len(body["actions"]) == 2
    assert body["actions"][0]["contact_id"] == contact.public_id
    assert [e["type"] for e in body["events"]] == ["note.created", "contact.created"]


def test_the_events_endpoint_filters_and_sorts(owner_client, make_contact):
    contact = make_contact("jane@example.com")
    services.note_create(contact=contact, actor=Actor.system("t"), content="one")
    services.contact_update(contact=contact, actor=Actor.system("t"), properties={"city": "Oslo"})
    path = f"/v1/contacts/events/{contact.public_id}"
    newest_first = [e["type"] for e in owner_client.get(path).json()["events"]]
    assert newest_first == ["contact.updated", "note.created", "contact.created"]
    oldest_first = [e["type"] for e in owner_client.get(f"{path}?sort_dir=asc").json()["events"]]
    assert oldest_first == newest_first[::-1]
    only = owner_client.get(f"{path}?event_type=note.created").json()["events"]
    assert [e["type"] for e in only] == ["note.created"]
    assert owner_client.get(f"{path}?sort_dir=sideways").status_code == 400
    assert owner_client.get("/v1/contacts/events/ct_0000000000000000").status_code == 404


def test_conversations_with_and_without_messages(
    owner_client, make_contact, django_assert_num_queries
):
    contact = make_contact("jane@example.com")
    old = thread(contact, subject="Old", messages=3, start=timezone.now() - dt.timedelta(days=9))
    new = thread(contact, subject="New", messages=7, channel="intercom")
    path = f"/v1/contacts/{contact.public_id}/conversations"

    body = owner_client.get(path).json()
    assert [c["subject"] for c in body["conversations"]] == ["New", "Old"]
    assert body["conversations"][0]["message_count"] == 7
    assert "messages" not in body["conversations"][0]

    with django_assert_num_queries(5):  # key, touch, contact, threads, messages
        body = owner_client.get(f"{path}?include_messages=true&messages_per_thread=2").json()
    first = body["conversations"][0]
    assert first["thread_id"] == new.public_id
    assert [m["body"] for m in first["messages"]] == ["message 5", "message 6"]  # newest two
    assert {"from", "to", "direction", "sent_at"} <= set(first["messages"][0])
    assert len(body["conversations"][1]["messages"]) == 2
    assert old.public_id == body["conversations"][1]["id"]

    limited = owner_client.get(f"{path}?limit=1").json()["conversations"]
    assert [c["subject"] for c in limited] == ["New"]
    assert owner_client.get(f"{path}?messages_per_thread=0").status_code == 400


def test_email_threads_are_compact_and_feed_email_message_actions(
    owner_client, make_contact, email_identity
):
    contact = make_contact("jane@example.com")
    email = thread(contact, subject="Pricing", messages=2)
    thread(contact, channel="sms", subject="", messages=1)
    threads = owner_client.get(f"/v1/contacts/{contact.public_id}/email-threads").json()["threads"]
    assert threads == [
        {
            "thread_id": email.public_id,
            "subject": "Pricing",
            "status": "open",
            "last_message_at": threads[0]["last_message_at"],
            "message_count": 2,
        }
    ]
    response = owner_client.post(
        "/v1/actions",
        {
            "type": "email_message",
            "identity_id": email_identity.public_id,
            "contact_id": contact.public_id,
            "params": {"thread_id": threads[0]["thread_id"], "body": "Following up"},
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["action"]["contact_id"] == contact.public_id


def test_notes_list_create_patch_delete(owner_client, make_contact):
    contact = make_contact("jane@example.com")
    base = f"/v1/contacts/{contact.public_id}/notes"
    created = owner_client.post(base, {"content": "**Met** at the fair"}, format="json")
    assert created.status_code == 201
    note = created.json()["note"]
    assert note["content"] == "**Met** at the fair"
    assert note["author"].startswith("api:key_")
    assert [n["id"] for n in owner_client.get(base).json()["notes"]] == [note["id"]]

    patched = owner_client.patch(f"{base}/{note['id']}", {"content": "Met twice"}, format="json")
    assert patched.json()["note"]["content"] == "Met twice"
    assert owner_client.post(base, {"content": ""}, format="json").status_code == 400

    assert owner_client.delete(f"{base}/{note['id']}").status_code == 200
    assert not Note.objects.exists()
    assert owner_client.delete(f"{base}/{note['id']}").status_code == 404
    types = [
        e["type"]
        for e in owner_client.get(f"/v1/contacts/events/{contact.public_id}").json()["events"]
    ]
    assert types[:3] == ["note.deleted", "note.updated", "note.created"]


def test_a_note_of_another_contact_is_404(owner_client, make_contact):
    jane, john = make_contact("jane@example.com"), make_contact("john@example.com")
    note = services.note_create(contact=jane, actor=Actor.system("t"), content="x")
    path = f"/v1/contacts/{john.public_id}/notes/{note.public_id}"
    assert owner_client.patch(path, {"content": "y"}, format="json").status_code == 404
    assert owner_client.delete(path).status_code == 404


def test_the_document_gives_the_statuses_the_contact_writes_answer(
    client, owner_client, make_contact
):
    # DELETE answers 200 with a body and a new note 201; the document said 204 and 200.
    contact = make_contact("ada@example.com")
    created = owner_client.post(
        f"/v1/contacts/{contact.public_id}/notes", {"content": "Hi"}, format="json"
    )
    note_id = created.json()["note"]["id"]
    deleted_note = owner_client.delete(f"/v1/contacts/{contact.public_id}/notes/{note_id}")
    deleted = owner_client.delete(f"/v1/contacts/{contact.public_id}")
    paths = client.get("/api/schema/?format=json").json()["paths"]
    answered = {
        ("/v1/contacts/{contact_id}/notes", "post"): created.status_code,
        ("/v1/contacts/{contact_id}/notes/{note_id}", "delete"): deleted_note.status_code,
        ("/v1/contacts/{contact_id}", "delete"): deleted.status_code,
    }
    for (path, method), status in answered.items():
        success = {c for c in paths[path][method]["responses"] if c.startswith("2")}
        assert success == {str(status)}, (method, path)
