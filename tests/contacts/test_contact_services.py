from __future__ import annotations

import threading

import pytest
from django import db
from django.db import connection
from django.db.models.signals import post_delete

from accounts.actors import Actor
from config.exceptions import ValidationFailed
from contacts import services
from contacts.models import Contact, ContactEvent, Note
from contacts.selectors import contacts_filtered

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")


def test_set_lifecycle_stage_is_an_audited_event_with_its_reason(make_contact):
    contact = make_contact("jane@example.com", lifecyclestage="lead")
    services.contact_set_lifecycle_stage(
        contact=contact,
        stage="customer",
        reason="Signed the contract",
        actor=SYSTEM,
        action_id="act_1",
    )
    contact.refresh_from_db()
    assert contact.lifecyclestage == "customer"
    event = ContactEvent.objects.get(contact=contact, type="contact.lifecycle_changed")
    assert event.data == {
        "from": "lead",
        "to": "customer",
        "reason": "Signed the contract",
        "action_id": "act_1",
    }
    with pytest.raises(ValidationFailed):
        services.contact_set_lifecycle_stage(contact=contact, stage="hero", reason="", actor=SYSTEM)


def test_suppression_is_idempotent_and_audited(make_contact):
    contact = make_contact("jane@example.com")
    assert services.contact_suppress(
        contact=contact, flag="bounced", reason="550 no such user", actor=SYSTEM
    )
    assert not services.contact_suppress(
        contact=contact, flag="bounced", reason="again", actor=SYSTEM
    )
    contact.refresh_from_db()
    assert contact.bounced and contact.bounced_reason == "550 no such user"
    assert contact.is_suppressed
    assert contact.suppression_reason == "bounced: 550 no such user"
    assert ContactEvent.objects.filter(type="contact.suppression_changed").count() == 1


def test_renaming_a_company_keeps_search_working(make_contact, workspace):
    contact = make_contact("jane@example.com", company="Initech")
    services.company_update(company=contact.company, changes={"name": "Globochem"})
    found = contacts_filtered(workspace=workspace, filters={"search": "globochem"})
    assert list(found) == [Contact.objects.get(pk=contact.pk)]
    assert not contacts_filtered(workspace=workspace, filters={"search": "initech"}).exists()


def test_a_company_name_is_matched_case_insensitively(make_contact):
    first = make_contact("a@example.com", company="Initech")
    second = make_contact("b@example.com", company="INITECH")
    assert first.company_id == second.company_id


def test_visitor_ids_move_to_the_latest_contact(make_contact, workspace):
    first = services.contact_create(
        workspace=workspace, actor=SYSTEM, email="a@example.com", visitor_ids="v-1"
    )
    second = services.contact_create(
        workspace=workspace, actor=SYSTEM, email="b@example.com", visitor_ids=["v-1"]
    )
    assert not first.visitor_ids.exists()
    assert list(second.visitor_ids.values_list("visitor_id", flat=True)) == ["v-1"]


def test_an_action_outcome_is_an_event_on_its_contact(make_contact, make_action):
    from outreach.services import action_cancel, action_decide

    contact = make_contact("jane@example.com")
    rejected = make_action(params={"to": "jane@example.com", "subject": "s", "body": "b"})
    action_decide(action=rejected, actor=SYSTEM, decision="reject", comment="off-tone")
    cancelled = make_action(params={"to": "jane@example.com", "subject": "t", "body": "b"})
    action_cancel(action=cancelled, actor=SYSTEM, reason="replied")
    events = ContactEvent.objects.filter(contact=contact, type__startswith="action.")
    assert sorted((e.type, e.data["action_id"]) for e in events) == sorted(
        [("action.rejected", rejected.public_id), ("action.cancelled", cancelled.public_id)]
    )
    assert events.get(type="action.rejected").data["reason"] == "reject: off-tone"


def test_short_search_words_are_dropped_when_a_longer_one_narrows(make_contact, workspace):
    ada = make_contact("ada@example.com", firstname="Ada", lastname="Lovelace")
    make_contact("bo@example.com", firstname="Bo", lastname="Li")
    assert list(contacts_filtered(workspace=workspace, filters={"search": "lovelace x"})) == [
        Contact.objects.get(pk=ada.pk)
    ]
    assert contacts_filtered(workspace=workspace, filters={"search": "li"}).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_a_delete_survives_an_event_committed_for_the_contact_meanwhile(make_contact):
    # Found by `make fuzz`: DELETE /v1/contacts/{id} while a cancel of one of the
    # contact's actions committed its outcome event answered 500 (ForeignKeyViolation
    # at commit). The notes are deleted after the events are nulled and before the
    # contact row: the other request's event lands exactly there.
    contact = make_contact("ada@example.com")
    services.note_create(contact=contact, actor=Actor.system("test"), content="Call back")
    landed: list[int] = []

    def record_elsewhere(sender, instance, **kwargs) -> None:
        if landed:
            return

        def other_request() -> None:
            try:
                event = services.event_record(
                    contact=contact, type="action.cancelled", actor=Actor.system("other")
                )
                landed.append(event.pk)
            finally:
                db.connections.close_all()

        thread = threading.Thread(target=other_request)
        thread.start()
        thread.join(timeout=30)

    post_delete.connect(record_elsewhere, sender=Note)
    try:
        services.contact_delete(contact=contact, actor=Actor.system("test"))
    finally:
        post_delete.disconnect(record_elsewhere, sender=Note)

    assert landed
    assert not Contact.objects.exists()
    event = ContactEvent.objects.get(pk=landed[0])
    assert event.contact_id is None
    assert event.contact_email == "ada@example.com"
