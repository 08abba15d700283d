from __future__ import annotations

import pytest

from accounts.models import Scope
from contacts.models import Contact

pytestmark = pytest.mark.django_db


def test_it_reads_by_ids_and_emails_reporting_what_is_missing(owner_client, make_contact):
    jane, john = make_contact("jane@example.com"), make_contact("john@example.com")
    response = owner_client.post(
        "/v1/contacts/batch",
        {
            "ids": [jane.public_id, "ct_missing"],
            "emails": ["JOHN@example.com", "nobody@example.com"],
        },
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert {c["email"] for c in body["contacts"]} == {"jane@example.com", "john@example.com"}
    assert body["not_found"] == {"ids": ["ct_missing"], "emails": ["nobody@example.com"]}
    assert john.public_id in {c["id"] for c in body["contacts"]}


def test_it_upserts_by_email_reporting_per_item(owner_client, make_contact):
    make_contact("jane@example.com", city="Oslo")
    response = owner_client.post(
        "/v1/contacts/batch",
        {
            "upsert": [
                {"email": "Jane@example.com", "properties": {"city": "Bergen"}},
                {"email": "new@example.com", "properties": {"firstname": "New"}},
                {"email": "bad@example.com", "properties": {"phone": "123"}},
                {"email": "not-an-email"},
                {"email": "new@example.com", "properties": {"lastname": "Again"}},
            ]
        },
        format="json",
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["updated", "created", "error", "error", "updated"]
    assert results[2]["error"]["fields"] == {
        "properties.phone": ["Must be an E.164 phone number such as +14155551234."]
    }
    assert Contact.objects.get(email="jane@example.com").city == "Bergen"
    new = Contact.objects.get(email="new@example.com")
    assert (new.firstname, new.lastname) == ("New", "Again")
    assert not Contact.objects.filter(email="bad@example.com").exists()


def test_it_takes_at_most_100_of_each(owner_client):
    response = owner_client.post(
        "/v1/contacts/batch",
        {
            "ids": [f"ct_{n}" for n in range(101)],
            "upsert": [{"email": f"u{n}@example.com"} for n in range(101)],
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"ids", "upsert"}
    assert owner_client.post("/v1/contacts/batch", {}, format="json").status_code == 400


def test_reading_needs_read_and_upserting_needs_write(client_for, owner, workspace):
    reader = client_for(owner, workspace, [Scope.CONTACTS_READ])
    writer = client_for(owner, workspace, [Scope.CONTACTS_WRITE])
    upsert = {"upsert": [{"email": "a@example.com"}]}
    assert reader.post("/v1/contacts/batch", upsert, format="json").status_code == 403
    assert writer.post("/v1/contacts/batch", upsert, format="json").status_code == 200
    assert (
        writer.post("/v1/contacts/batch", {"emails": ["a@example.com"]}, format="json").status_code
        == 403
    )
    assert (
        reader.post("/v1/contacts/batch", {"emails": ["a@example.com"]}, format="json").status_code
        == 200
    )
    assert (
        client_for(owner, workspace, [Scope.ACTIONS_READ])
        .post("/v1/contacts/batch", {"emails": ["a@example.com"]}, format="json")
        .status_code
        == 403
    )


def test_it_never_reads_another_workspace(outsider_client, make_contact):
    jane = make_contact("jane@example.com")
    body = outsider_client.post(
        "/v1/contacts/batch",
        {"ids": [jane.public_id], "emails": ["jane@example.com"]},
        format="json",
    ).json()
    assert body["contacts"] == []
