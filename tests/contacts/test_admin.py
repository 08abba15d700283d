"""The contacts and companies admin, through Django's test client.

Writes go through contacts.services, so these tests assert the database
(contacts, notes, ContactEvent rows) as well as what staff see.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.actors import Actor
from contacts import services
from contacts.models import Company, Contact, ContactEvent, Conversation, Message, Note
from tests.admin_helpers import form_data, messages_of, staff_client

pytestmark = pytest.mark.django_db

CONTACTS = "/admin/contacts/contact/"
COMPANIES = "/admin/contacts/company/"
SYSTEM = Actor.system("tests")


def listed(response) -> list[str]:
    return sorted(c.email for c in response.context["cl"].result_list)


def change_url(contact: Contact) -> str:
    return f"{CONTACTS}{contact.pk}/change/"


def events_of(contact: Contact) -> list[str]:
    return list(
        ContactEvent.objects.filter(contact_public_id=contact.public_id)
        .order_by("occurred_at", "id")
        .values_list("type", flat=True)
    )


# --- The list ------------------------------------------------------------------------
def test_the_list_shows_suppression_at_a_glance(staff, workspace, make_contact):
    make_contact("plain@example.com")
    for email, flag, reason in [
        ("dnc@example.com", "do_not_contact", "asked by phone"),
        ("unsub@example.com", "unsubscribed", "link"),
        ("bounce@example.com", "bounced", "mailbox full"),
    ]:
        contact = make_contact(email)
        services.contact_suppress(contact=contact, flag=flag, reason=reason, actor=SYSTEM)

    response = staff.get(CONTACTS)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="suppression-badge do-not-contact"' in html
    assert "(asked by phone)" in html  # the badge's title says why
    assert 'class="suppression-badge unsubscribed"' in html
    assert 'class="suppression-badge bounced"' in html
    assert html.count('class="contactable"') == 1  # only plain@ can be contacted


def test_the_list_runs_a_constant_number_of_queries(staff, workspace, make_contact):
    def add(start: int, count: int) -> None:
        for i in range(start, start + count):
            make_contact(f"c{i}@example.com", company=f"Co {i}", country="NL")

    add(0, 2)
    with CaptureQueriesContext(connection) as few:
        assert staff.get(CONTACTS).status_code == 200
    add(2, 8)
    with CaptureQueriesContext(connection) as many:
        response = staff.get(CONTACTS)
    assert len(response.context["cl"].result_list) == 10
    assert len(many) == len(few)


def test_search_matches_name_email_job_title_and_company(staff, workspace, make_contact):
    make_contact("ada@example.com", firstname="Ada", lastname="Lovelace", company="Analytical")
    make_contact("grace@example.com", firstname="Grace", jobtitle="Rear Admiral")

    def search(term: str) -> list[str]:
        return listed(staff.get(CONTACTS, {"q": term}))

    assert search("lovelace") == ["ada@example.com"]
    assert search("ADA analytical") == ["ada@example.com"]  # every word must match
    assert search("grace@example") == ["grace@example.com"]
    assert search("admiral") == ["grace@example.com"]
    assert search("example.com") == ["ada@example.com", "grace@example.com"]
    assert search("nobody") == []


def test_filters_narrow_the_list(staff, workspace, make_contact):
    acme = make_contact("a@example.com", lifecyclestage="customer", country="NL", company="Acme")
    make_contact("b@example.com", lifecyclestage="lead", country="DE")
    dnc = make_contact("c@example.com", lead_status="open")
    services.contact_suppress(contact=dnc, flag="do_not_contact", reason="x", actor=SYSTEM)

    assert listed(staff.get(CONTACTS, {"lifecyclestage__exact": "customer"})) == [acme.email]
    assert listed(staff.get(CONTACTS, {"country": "DE"})) == ["b@example.com"]
    assert listed(staff.get(CONTACTS, {"lead_status": "open"})) == ["c@example.com"]
    assert listed(staff.get(CONTACTS, {"company__id__exact": acme.company_id})) == [acme.email]
    assert listed(staff.get(CONTACTS, {"suppression": "do_not_contact"})) == ["c@example.com"]
    assert listed(staff.get(CONTACTS, {"suppression": "unsubscribed"})) == []
    assert listed(staff.get(CONTACTS, {"suppression": "none"})) == [
        "a@example.com",
        "b@example.com",
    ]
    assert listed(staff.get(CONTACTS, {"enrichment_status__exact": "not_enriched"})) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    assert listed(staff.get(CONTACTS, {"workspace__id__exact": workspace.pk})) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]


def test_staff_of_another_workspace_cannot_see_the_contact(workspace, outsider, make_contact):
    contact = make_contact("secret@example.com")
    client = staff_client(outsider, app_label="contacts")

    response = client.get(CONTACTS)
    assert response.status_code == 200
    assert listed(response) == []
    assert "secret@example.com" not in response.content.decode()

    page = client.get(change_url(contact))
    assert page.status_code == 302  # Django's "does not exist" redirect to the index
    assert page["Location"] == "/admin/"
    assert client.post(f"{CONTACTS}{contact.pk}/delete/", {"post": "yes"}).status_code == 302
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- Add and change: through the services ----------------------------------------
ADD = {
    "email": "new@example.com",
    "firstname": "Nina",
    "lastname": "New",
    "jobtitle": "CTO",
    "company_name": "Initech",
    "phone": "+1 415 555 1234",
    "linkedin_url": "https://www.linkedin.com/in/nina-new",
    "city": "Amsterdam",
    "country": "NL",
    "lifecyclestage": "lead",
    "timezone": "Europe/Amsterdam",
    "properties": json.dumps({"favourite_tea": "earl grey"}),
    "notes-TOTAL_FORMS": "1",
    "notes-INITIAL_FORMS": "0",
    "notes-MIN_NUM_FORMS": "0",
    "notes-MAX_NUM_FORMS": "1000",
    "notes-0-content": "Met at the conference.",
}


def test_adding_a_contact_goes_through_the_services_and_writes_events(staff, workspace, owner):
    response = staff.post(
        f"{CONTACTS}add/", {**ADD, "workspace": workspace.pk, "do_not_contact": "on"}
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    contact = Contact.objects.get(email="new@example.com")
    assert contact.workspace == workspace
    assert contact.phone == "+14155551234"  # normalised by the service
    assert contact.company.name == "Initech"
    assert contact.properties == {"favourite_tea": "earl grey"}
    assert contact.search_text  # kept by the service
    assert contact.do_not_contact and contact.do_not_contact_reason == "admin"
    assert events_of(contact) == ["contact.created", "contact.suppression_changed", "note.created"]
    assert set(ContactEvent.objects.values_list("actor_label", flat=True)) == {
        f"admin:{owner.username}"
    }
    note = Note.objects.get(contact=contact)
    assert note.content == "Met at the conference."
    assert note.author == owner


def test_editing_a_contact_writes_update_events(staff, workspace, make_contact):
    contact = make_contact("edit@example.com", firstname="Old", custom_a="1")
    page = staff.get(change_url(contact))
    assert page.status_code == 200
    data = form_data(page)
    data.update(
        firstname="New",
        lifecyclestage="customer",
        properties=json.dumps({"custom_b": 2}),
    )

    response = staff.post(change_url(contact), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    contact.refresh_from_db()
    assert contact.firstname == "New"
    assert contact.lifecyclestage == "customer"
    assert contact.properties == {"custom_b": 2}  # custom_a removed
    assert events_of(contact) == [
        "contact.created",
        "contact.updated",
        "contact.lifecycle_changed",
    ]
    update = ContactEvent.objects.get(contact=contact, type="contact.updated")
    assert update.data["changes"]["firstname"] == {"from": "Old", "to": "New"}
    assert update.data["changes"]["custom_a"] == {"from": "1", "to": None}


def test_saving_an_unchanged_contact_writes_no_event(staff, workspace, make_contact):
    contact = make_contact("same@example.com", phone="+14155551234", company="Acme")
    response = staff.post(change_url(contact), form_data(staff.get(change_url(contact))))
    assert response.status_code == 302
    assert events_of(contact) == ["contact.created"]


def test_a_bad_phone_is_a_form_error_and_nothing_is_saved(staff, workspace, make_contact):
    response = staff.post(f"{CONTACTS}add/", {**ADD, "workspace": workspace.pk, "phone": "12345"})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "E.164" in errors["phone"][0]
    assert not Contact.objects.exists()
    assert not ContactEvent.objects.exists()
    assert not Note.objects.exists()
    assert not Company.objects.exists()

    contact = make_contact("keep@example.com", phone="+14155551234")
    data = {**form_data(staff.get(change_url(contact))), "phone": "+1 555", "firstname": "X"}
    response = staff.post(change_url(contact), data)
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    contact.refresh_from_db()
    assert (contact.phone, contact.firstname) == ("+14155551234", "")
    assert events_of(contact) == ["contact.created"]


def test_other_service_errors_land_on_their_fields(staff, workspace):
    response = staff.post(
        f"{CONTACTS}add/",
        {
            **ADD,
            "workspace": workspace.pk,
            "linkedin_url": "https://example.com/jane",
            "lifecyclestage": "customer",
            "timezone": "Mars/Olympus",
        },
    )
    errors = response.context["adminform"].form.errors
    assert "LinkedIn profile URL" in errors["linkedin_url"][0]
    assert "IANA" in errors["timezone"][0]
    assert not Contact.objects.exists()

    response = staff.post(
        f"{CONTACTS}add/",
        {**ADD, "workspace": workspace.pk, "properties": json.dumps({"phone": "+14155551234"})},
    )
    errors = response.context["adminform"].form.errors
    assert "well-known" in errors["properties"][0]
    assert not Contact.objects.exists()


def test_a_duplicate_email_is_a_form_error(staff, workspace, make_contact):
    make_contact("taken@example.com")

    response = staff.post(
        f"{CONTACTS}add/", {**ADD, "workspace": workspace.pk, "email": "Taken@Example.com"}
    )

    assert response.status_code == 200
    assert "already exists" in response.context["adminform"].form.errors["email"][0]
    assert Contact.objects.count() == 1
    assert ContactEvent.objects.count() == 1  # the first contact's contact.created

    other = make_contact("other@example.com")
    data = {**form_data(staff.get(change_url(other))), "email": "TAKEN@example.com"}
    response = staff.post(change_url(other), data)
    assert response.status_code == 200
    assert "already exists" in response.context["adminform"].form.errors["email"][0]
    other.refresh_from_db()
    assert other.email == "other@example.com"


def test_the_add_form_offers_only_visible_workspaces(staff, workspace, other_workspace):
    page = staff.get(f"{CONTACTS}add/")
    choices = page.context["adminform"].form.fields["workspace"].queryset
    assert list(choices) == [workspace]

    response = staff.post(f"{CONTACTS}add/", {**ADD, "workspace": other_workspace.pk})
    assert "workspace" in response.context["adminform"].form.errors
    assert not Contact.objects.exists()


# --- Inlines ---------------------------------------------------------------------------
def test_the_notes_inline_creates_updates_and_deletes_notes_with_events(
    staff, workspace, owner, make_contact
):
    contact = make_contact("notes@example.com")
    data = form_data(staff.get(change_url(contact)))
    data.update({"notes-TOTAL_FORMS": "1", "notes-0-content": "Called, no answer."})

    response = staff.post(change_url(contact), data)

    assert response.status_code == 302
    note = Note.objects.get(contact=contact)
    assert (note.content, note.author, note.workspace) == ("Called, no answer.", owner, workspace)
    created = ContactEvent.objects.get(contact=contact, type="note.created")
    assert created.data["note_id"] == note.public_id

    data = form_data(staff.get(change_url(contact)))
    data["notes-0-content"] = "Called, left a message."
    assert staff.post(change_url(contact), data).status_code == 302
    note.refresh_from_db()
    assert note.content == "Called, left a message."

    data = form_data(staff.get(change_url(contact)))
    data["notes-0-DELETE"] = "on"
    assert staff.post(change_url(contact), data).status_code == 302
    assert not Note.objects.exists()
    assert events_of(contact) == [
        "contact.created",
        "note.created",
        "note.updated",
        "note.deleted",
    ]


def test_the_change_page_shows_the_latest_events_and_conversations(staff, workspace, make_contact):
    contact = make_contact("busy@example.com")
    for i in range(60):
        services.note_create(contact=contact, actor=SYSTEM, content=f"note {i}")
    thread = Conversation.objects.create(
        workspace=workspace, contact=contact, channel="email", subject="Pricing question"
    )
    for body in ["hi", "hello", "thanks"]:
        Message.objects.create(
            workspace=workspace,
            conversation=thread,
            direction="inbound",
            from_address="busy@example.com",
            to_address="sales@example.com",
            body=body,
            sent_at=timezone.now(),
        )

    response = staff.get(change_url(contact))

    assert response.status_code == 200
    inlines = {i.formset.prefix: i for i in response.context["inline_admin_formsets"]}
    events = [form.instance for form in inlines["events"].formset.forms]
    assert len(events) == 50
    assert events[0].data["excerpt"] == "note 59"  # newest first
    assert not inlines["events"].has_add_permission
    assert not inlines["events"].has_change_permission
    conversations = inlines["conversations"].formset.forms
    assert [f.instance.message_total for f in conversations] == [3]
    assert "Pricing question" in response.content.decode()


# --- Delete and actions ---------------------------------------------------------------
def test_deleting_a_contact_keeps_its_events(staff, workspace, owner, make_contact):
    contact = make_contact("gone@example.com")
    services.note_create(contact=contact, actor=SYSTEM, content="a note")
    public_id = contact.public_id

    response = staff.post(f"{CONTACTS}{contact.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert not Note.objects.exists()
    events = ContactEvent.objects.filter(contact_public_id=public_id)
    assert list(events.order_by("id").values_list("type", flat=True)) == [
        "contact.created",
        "note.created",
        "contact.deleted",
    ]
    assert {(e.contact_id, e.contact_email) for e in events} == {(None, "gone@example.com")}
    assert events.get(type="contact.deleted").actor_label == f"admin:{owner.username}"


def test_bulk_delete_goes_through_the_service(staff, workspace, make_contact):
    first = make_contact("one@example.com")
    second = make_contact("two@example.com")

    response = staff.post(
        CONTACTS,
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Contact.objects.exists()
    assert ContactEvent.objects.filter(type="contact.deleted").count() == 2


def test_the_suppression_actions_go_through_contact_suppress(staff, workspace, owner, make_contact):
    first = make_contact("one@example.com")
    second = make_contact("two@example.com")
    services.contact_suppress(contact=second, flag="unsubscribed", reason="link", actor=SYSTEM)

    response = staff.post(
        CONTACTS,
        {"action": "unsubscribe", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "Unsubscribed 1 contact. 1 already were." in messages_of(response)
    first.refresh_from_db()
    assert (first.unsubscribed, first.unsubscribed_reason) == (True, "admin")
    assert first.unsubscribed_at is not None

    staff.post(CONTACTS, {"action": "mark_do_not_contact", "_selected_action": [first.pk]})
    first.refresh_from_db()
    assert (first.do_not_contact, first.do_not_contact_reason) == (True, "admin")
    assert events_of(first) == [
        "contact.created",
        "contact.suppression_changed",
        "contact.suppression_changed",
    ]
    event = ContactEvent.objects.filter(contact=first, type="contact.suppression_changed").last()
    assert event.actor_label == f"admin:{owner.username}"


# --- Companies -------------------------------------------------------------------------
def test_the_companies_list_shows_contact_counts_in_a_constant_number_of_queries(
    staff, workspace, other_workspace, make_contact
):
    def add_companies(start: int, count: int) -> None:
        for i in range(start, start + count):
            for j in range(i % 3 + 1):
                make_contact(f"c{i}-{j}@example.com", company=f"Company {i:02}")

    add_companies(0, 2)
    make_contact("hidden@example.com", company="Hidden Co", workspace_=other_workspace)
    with CaptureQueriesContext(connection) as few:
        response = staff.get(COMPANIES)
    assert response.status_code == 200
    counts = {c.name: c.contacts_total for c in response.context["cl"].result_list}
    assert counts == {"Company 00": 1, "Company 01": 2}

    add_companies(2, 6)
    with CaptureQueriesContext(connection) as many:
        response = staff.get(COMPANIES)
    assert len(response.context["cl"].result_list) == 8
    assert len(many) == len(few)
    assert '<td class="field-contact_count">3</td>' in response.content.decode()


def test_companies_are_searchable_and_edited_through_company_update(staff, workspace, make_contact):
    contact = make_contact("emp@example.com", company="Globodyne")
    company = contact.company

    found = staff.get(COMPANIES, {"q": "globo"}).context["cl"].result_list
    assert [c.name for c in found] == ["Globodyne"]
    response = staff.post(
        f"{COMPANIES}{company.pk}/change/",
        {
            "name": "Globex",
            "domain": "globex.example.com",
            "industry": "",
            "size": "",
            "country": "",
        },
    )

    assert response.status_code == 302
    company.refresh_from_db()
    assert (company.name, company.domain) == ("Globex", "globex.example.com")
    contact.refresh_from_db()
    assert "globex" in contact.search_text  # company_update refreshed the contacts
    found = staff.get(COMPANIES, {"q": "globex.example"}).context["cl"].result_list
    assert [c.name for c in found] == ["Globex"]


def test_adding_a_company_goes_through_the_services(staff, workspace):
    data = {"workspace": workspace.pk, "name": "Hooli", "domain": "hooli.example.com"}
    data.update(industry="Tech", size="", country="US")

    assert staff.post(f"{COMPANIES}add/", data).status_code == 302
    company = Company.objects.get()
    assert (company.workspace, company.name, company.domain) == (
        workspace,
        "Hooli",
        "hooli.example.com",
    )

    response = staff.post(f"{COMPANIES}add/", {**data, "name": "HOOLI"})
    assert "already has a company" in response.context["adminform"].form.errors["name"][0]
    assert Company.objects.count() == 1


def test_a_company_with_contacts_cannot_be_deleted(staff, workspace, make_contact):
    contact = make_contact("emp@example.com", company="Keep Co")
    empty = Company.objects.create(workspace=workspace, name="Empty Co")

    assert staff.get(f"{COMPANIES}{contact.company_id}/delete/").status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [contact.company_id, empty.pk]}
    assert staff.post(COMPANIES, {**bulk, "post": "yes"}).status_code == 403
    assert Company.objects.count() == 2

    response = staff.post(f"{COMPANIES}{empty.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert list(Company.objects.values_list("name", flat=True)) == ["Keep Co"]
