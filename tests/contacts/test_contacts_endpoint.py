"""POST/GET/PUT/DELETE /v1/contacts and the list's filters, sorts and shapes."""

from __future__ import annotations

import json

import pytest

from accounts.models import Scope
from contacts.models import Contact, ContactEvent, Note
from outreach.models import Action

pytestmark = pytest.mark.django_db


def emails(response) -> list[str]:
    return [c["email"] for c in response.json()["contacts"]]


# --- create ---------------------------------------------------------------------
def test_it_creates_a_contact_with_properties(owner_client):
    response = owner_client.post(
        "/v1/contacts",
        {
            "email": "Jane.Doe@Example.com",
            "properties": {
                "firstname": "Jane",
                "lastname": "Doe",
                "company": "Initech",
                "phone": "+1 415 555 1234",
                "lifecyclestage": "lead",
                "favourite_colour": "teal",
                "do_not_contact": False,
            },
            "visitor_id": ["v-1", "v-2"],
        },
        format="json",
    )
    assert response.status_code == 201
    contact = response.json()["contact"]
    assert contact["id"].startswith("ct_")
    assert contact["email"] == "Jane.Doe@example.com"
    props = contact["properties"]
    assert props["firstname"] == "Jane"
    assert props["company"] == "Initech"
    assert props["phone"] == "+14155551234"
    assert props["favourite_colour"] == "teal"
    assert props["unsubscribed"] is False
    assert contact["company_id"].startswith("co_")
    assert contact["suppression"]["suppressed"] is False
    assert {"createdate", "lastmodifieddate"} <= set(contact)
    stored = Contact.objects.get()
    assert stored.properties == {"favourite_colour": "teal"}  # well-known ones are columns
    assert set(stored.visitor_ids.values_list("visitor_id", flat=True)) == {"v-1", "v-2"}
    assert ContactEvent.objects.get().type == "contact.created"


def test_a_duplicate_email_is_409_case_insensitively(owner_client, make_contact):
    make_contact("jane@example.com")
    response = owner_client.post("/v1/contacts", {"email": "JANE@example.com"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_contact"
    assert Contact.objects.count() == 1


def test_the_same_email_in_another_workspace_is_fine(owner_client, make_contact, other_workspace):
    make_contact("jane@example.com", workspace_=other_workspace)
    assert (
        owner_client.post("/v1/contacts", {"email": "jane@example.com"}, format="json").status_code
        == 201
    )


def test_it_names_every_bad_field(owner_client):
    response = owner_client.post(
        "/v1/contacts",
        {
            "email": "nope",
            "properties": {
                "phone": "555",
                "linkedin_url": "https://example.com/x",
                "timezone": "Mars/Base",
                "lifecyclestage": "champion",
                "unsubscribed": False,
                "do_not_contact": "perhaps",
            },
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {
        "email",
        "properties.phone",
        "properties.linkedin_url",
        "properties.timezone",
        "properties.lifecyclestage",
        "properties.unsubscribed",
        "properties.do_not_contact",
    }
    assert not Contact.objects.exists()


def test_email_is_required(owner_client):
    response = owner_client.post("/v1/contacts", {"properties": {}}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email"}


# --- scopes and tenancy -------------------------------------------------------------
def test_scopes_are_contacts_read_and_write(client_for, owner, workspace, make_contact):
    contact = make_contact("jane@example.com")
    reader = client_for(owner, workspace, [Scope.CONTACTS_READ])
    writer = client_for(owner, workspace, [Scope.CONTACTS_WRITE])
    assert reader.get("/v1/contacts").status_code == 200
    assert reader.get(f"/v1/contacts/{contact.public_id}").status_code == 200
    assert reader.post("/v1/contacts", {"email": "x@example.com"}, format="json").status_code == 403
    assert reader.put(f"/v1/contacts/{contact.public_id}", {}, format="json").status_code == 403
    assert reader.delete(f"/v1/contacts/{contact.public_id}").status_code == 403
    assert (
        reader.post(
            f"/v1/contacts/{contact.public_id}/notes", {"content": "x"}, format="json"
        ).status_code
        == 403
    )
    assert writer.get("/v1/contacts").status_code == 403
    assert writer.get(f"/v1/contacts/{contact.public_id}/notes").status_code == 403


def test_another_workspaces_contact_is_404(outsider_client, make_contact):
    contact = make_contact("jane@example.com")
    base = f"/v1/contacts/{contact.public_id}"
    assert outsider_client.get(base).status_code == 404
    assert (
        outsider_client.put(base, {"properties": {"city": "X"}}, format="json").status_code == 404
    )
    assert outsider_client.delete(base).status_code == 404
    assert outsider_client.get(f"{base}/notes").status_code == 404
    assert outsider_client.get(f"{base}/conversations").status_code == 404
    assert outsider_client.get(f"{base}/email-threads").status_code == 404
    assert outsider_client.get(f"/v1/contacts/events/{contact.public_id}").status_code == 404
    assert outsider_client.get("/v1/contacts").json()["contacts"] == []
    assert Contact.objects.filter(pk=contact.pk).exists()


# --- update -----------------------------------------------------------------------
def test_put_merges_properties_and_records_the_changes(owner_client, make_contact):
    contact = make_contact(
        "jane@example.com", firstname="Jane", city="Oslo", colour="teal", size="L"
    )
    response = owner_client.put(
        f"/v1/contacts/{contact.public_id}",
        {
            "properties": {
                "city": "Bergen",
                "lifecyclestage": "customer",
                "size": None,
                "shoe": 38,
            },
        },
        format="json",
    )
    assert response.status_code == 200
    props = response.json()["contact"]["properties"]
    assert props["firstname"] == "Jane"  # untouched
    assert props["city"] == "Bergen"
    assert props["colour"] == "teal"  # untouched custom
    assert "size" not in props  # null removes a custom property
    assert props["shoe"] == 38
    types = list(ContactEvent.objects.filter(contact=contact).values_list("type", flat=True))
    assert set(types) == {"contact.created", "contact.updated", "contact.lifecycle_changed"}
    updated = ContactEvent.objects.get(contact=contact, type="contact.updated")
    assert updated.data["changes"]["city"] == {"from": "Oslo", "to": "Bergen"}
    assert updated.data["changes"]["lifecyclestage"] == {"from": "", "to": "customer"}


def test_put_validates_the_lifecycle_stage(owner_client, make_contact):
    contact = make_contact("jane@example.com", lifecyclestage="lead")
    response = owner_client.put(
        f"/v1/contacts/{contact.public_id}",
        {"properties": {"lifecyclestage": "winner"}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"properties.lifecyclestage"}
    contact.refresh_from_db()
    assert contact.lifecyclestage == "lead"


def test_put_with_no_change_writes_no_event(owner_client, make_contact):
    contact = make_contact("jane@example.com", city="Oslo")
    owner_client.put(
        f"/v1/contacts/{contact.public_id}", {"properties": {"city": "Oslo"}}, format="json"
    )
    assert ContactEvent.objects.filter(contact=contact).count() == 1


def test_do_not_contact_is_a_suppression_event(owner_client, make_contact):
    contact = make_contact("jane@example.com")
    response = owner_client.put(
        f"/v1/contacts/{contact.public_id}", {"properties": {"do_not_contact": True}}, format="json"
    )
    suppression = response.json()["contact"]["suppression"]
    assert suppression["suppressed"] is True
    assert suppression["do_not_contact_at"] is not None
    assert ContactEvent.objects.filter(type="contact.suppression_changed").exists()


def test_put_can_change_the_email_but_not_to_a_taken_one(owner_client, make_contact):
    contact = make_contact("jane@example.com")
    make_contact("john@example.com")
    response = owner_client.put(
        f"/v1/contacts/{contact.public_id}",
        {"properties": {"email": "JOHN@example.com"}},
        format="json",
    )
    assert response.status_code == 409
    response = owner_client.put(
        f"/v1/contacts/{contact.public_id}",
        {"properties": {"email": "jane.doe@example.com"}},
        format="json",
    )
    assert response.json()["contact"]["email"] == "jane.doe@example.com"


# --- delete -----------------------------------------------------------------------
def test_delete_removes_the_contact_and_notes_and_keeps_events_and_actions(
    owner_client, make_contact, make_action
):
    contact = make_contact("jane@example.com")
    owner_client.post(f"/v1/contacts/{contact.public_id}/notes", {"content": "hi"}, format="json")
    action = make_action(params={"to": "jane@example.com", "subject": "s", "body": "b"})
    assert action.contact == contact
    response = owner_client.delete(f"/v1/contacts/{contact.public_id}")
    assert response.status_code == 200
    assert not Contact.objects.exists()
    assert not Note.objects.exists()
    action.refresh_from_db()
    assert action.contact is None
    assert Action.objects.filter(pk=action.pk).exists()
    events = owner_client.get(f"/v1/contacts/events/{contact.public_id}").json()["events"]
    assert [e["type"] for e in events] == ["contact.deleted", "note.created", "contact.created"]
    assert {e["contact_email"] for e in events} == {"jane@example.com"}
    assert owner_client.get(f"/v1/contacts/{contact.public_id}").status_code == 404


# --- list ---------------------------------------------------------------------------
@pytest.fixture
def crowd(make_contact):
    return [
        make_contact(
            "ada@example.com",
            firstname="Ada",
            lastname="Lovelace",
            jobtitle="VP Engineering",
            company="Analytical",
            country="UK",
            city="London",
            industry="Software",
            lifecyclestage="customer",
            lead_status="Open",
            linkedin_url="https://www.linkedin.com/in/ada",
        ),
        make_contact(
            "grace@example.com",
            firstname="Grace",
            lastname="Hopper",
            jobtitle="Admiral",
            company="Navy",
            country="US",
            city="Arlington",
            state="VA",
            industry="Defense",
            lifecyclestage="lead",
            lead_status="New",
        ),
        make_contact(
            "alan@example.com",
            firstname="Alan",
            lastname="Turing",
            jobtitle="Engineering lead",
            company="Bletchley",
            country="uk",
            lifecyclestage="lead",
        ),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lifecycle_stage=lead", {"grace@example.com", "alan@example.com"}),
        ("country=UK", {"ada@example.com", "alan@example.com"}),
        ("city=london", {"ada@example.com"}),
        ("state=VA", {"grace@example.com"}),
        ("industry=software", {"ada@example.com"}),
        ("lead_status=new", {"grace@example.com"}),
        ("job_title=engineering", {"ada@example.com", "alan@example.com"}),
        ("has_linkedin=true", {"ada@example.com"}),
        ("has_linkedin=false", {"grace@example.com", "alan@example.com"}),
        ("status=not_enriched", {"ada@example.com", "grace@example.com", "alan@example.com"}),
        ("status=enriched", set()),
        ("search=hopper", {"grace@example.com"}),
        ("search=NAVY", {"grace@example.com"}),
        ("search=engineering", {"ada@example.com", "alan@example.com"}),
        ("search=ada%20analytical", {"ada@example.com"}),
        ("search=alan@example", {"alan@example.com"}),
    ],
)
def test_each_documented_filter(owner_client, crowd, query, expected):
    response = owner_client.get(f"/v1/contacts?{query}")
    assert response.status_code == 200, response.json()
    assert set(emails(response)) == expected


def test_company_and_created_filters(owner_client, crowd):
    company_id = Contact.objects.get(email="ada@example.com").company.public_id
    assert emails(owner_client.get(f"/v1/contacts?company_id={company_id}")) == ["ada@example.com"]
    Contact.objects.filter(email="ada@example.com").update(created_at="2025-01-01T10:00:00Z")
    Contact.objects.filter(email="grace@example.com").update(created_at="2025-03-01T10:00:00Z")
    after = emails(owner_client.get("/v1/contacts?created_after=2025-02-01"))
    assert "ada@example.com" not in after and "grace@example.com" in after
    before = emails(owner_client.get("/v1/contacts?created_before=2025-02-01T00:00:00Z"))
    assert before == ["ada@example.com"]


@pytest.mark.parametrize(
    ("sort_by", "asc"),
    [
        ("email", ["ada@example.com", "alan@example.com", "grace@example.com"]),
        ("firstname", ["ada@example.com", "alan@example.com", "grace@example.com"]),
        ("lastname", ["grace@example.com", "ada@example.com", "alan@example.com"]),
        ("company", ["ada@example.com", "alan@example.com", "grace@example.com"]),
        ("createdate", ["ada@example.com", "grace@example.com", "alan@example.com"]),
    ],
)
def test_sorts_both_ways(owner_client, crowd, sort_by, asc):
    assert emails(owner_client.get(f"/v1/contacts?sort_by={sort_by}&sort_dir=asc")) == asc
    assert emails(owner_client.get(f"/v1/contacts?sort_by={sort_by}&sort_dir=desc")) == asc[::-1]


def test_the_default_sort_is_newest_first(owner_client, crowd):
    assert emails(owner_client.get("/v1/contacts")) == [
        "alan@example.com",
        "grace@example.com",
        "ada@example.com",
    ]


def test_pagination_edges(owner_client, make_contact):
    for n in range(5):
        make_contact(f"c{n}@example.com")
    body = owner_client.get("/v1/contacts?limit=2&page=3&sort_by=email&sort_dir=asc").json()
    assert emails_of(body) == ["c4@example.com"]
    assert body["pagination"] == {"page": 3, "limit": 2, "total_pages": 3, "total_items": 5}
    beyond = owner_client.get("/v1/contacts?limit=2&page=4").json()
    assert beyond["contacts"] == [] and beyond["pagination"]["total_items"] == 5
    empty = owner_client.get("/v1/contacts?search=nobody").json()
    assert empty["pagination"] == {"page": 1, "limit": 20, "total_pages": 0, "total_items": 0}


def emails_of(body) -> list[str]:
    return [c["email"] for c in body["contacts"]]


def test_it_names_every_bad_parameter(owner_client):
    response = owner_client.get(
        "/v1/contacts?page=0&limit=101&status=vip&lifecycle_stage=x&sort_by=phone&sort_dir=up"
        "&has_linkedin=maybe&created_after=yesterday&fields=full&count_only=perhaps"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {
        "page",
        "limit",
        "status",
        "lifecycle_stage",
        "sort_by",
        "sort_dir",
        "has_linkedin",
        "created_after",
        "fields",
        "count_only",
    }


def test_count_only_returns_only_the_count(owner_client, crowd, django_assert_num_queries):
    with django_assert_num_queries(3):  # key, touch, count: no rows fetched
        response = owner_client.get("/v1/contacts?count_only=true&lifecycle_stage=lead")
    assert response.json() == {"status": "success", "count": 2}


def test_summary_is_compact(owner_client, crowd):
    body = owner_client.get("/v1/contacts?fields=summary").json()
    first = body["contacts"][0]
    assert set(first) == {"id", "email", "name", "company", "lifecyclestage", "suppressed"}
    assert first["name"] == "Alan Turing"
    for contact in body["contacts"]:
        assert len(json.dumps(contact)) <= 200


def test_the_list_runs_a_constant_number_of_queries(
    owner_client, make_contact, django_assert_num_queries
):
    for n in range(40):
        make_contact(f"c{n}@example.com", company=f"Co {n % 3}", firstname=f"N{n}")
    for limit in (1, 100):
        with django_assert_num_queries(4):  # key, touch, count, page with company joined
            response = owner_client.get(f"/v1/contacts?limit={limit}")
        assert len(response.json()["contacts"]) == min(limit, 40)


# --- bad input: each was a 500 on PostgreSQL (issue 11) ---------------------------
@pytest.mark.parametrize("param", ["created_before", "created_after"])
@pytest.mark.parametrize("offset", ["-16:00", "+16:00", "+23:59"])
def test_a_time_filter_offset_beyond_15_59_is_a_400_naming_it(owner_client, param, offset):
    response = owner_client.get("/v1/contacts", {param: f"2020-01-01T00:00:00{offset}"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [param]


def test_a_time_filter_offset_of_15_59_is_the_same_instant_in_utc(owner_client, make_contact):
    make_contact("jane@example.com")
    after = owner_client.get("/v1/contacts", {"created_after": "2000-01-01T15:59:00+15:59"})
    before = owner_client.get("/v1/contacts", {"created_before": "2000-01-01T00:00:00-15:59"})
    assert (after.status_code, before.status_code) == (200, 200)
    assert emails(after) == ["jane@example.com"]
    assert emails(before) == []


def test_a_time_filter_that_leaves_the_calendar_in_utc_is_a_400(owner_client):
    response = owner_client.get("/v1/contacts", {"created_after": "0001-01-01T00:00:00+01:00"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["created_after"]


@pytest.mark.parametrize("page", ["100000000000000000000", "2147483648"])
def test_a_page_past_the_cap_is_a_400_naming_page(owner_client, page):
    response = owner_client.get("/v1/contacts", {"page": page})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["page"]


def test_the_last_page_number_allowed_is_an_empty_page(owner_client, make_contact):
    make_contact("jane@example.com")
    response = owner_client.get("/v1/contacts", {"page": 2**31 - 1, "limit": 100})
    assert response.status_code == 200
    assert emails(response) == []


def test_a_nul_in_the_search_is_a_400_naming_it(owner_client):
    response = owner_client.get("/v1/contacts?search=%00")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["search"]


def test_a_nul_in_a_property_is_a_400_naming_its_path_on_create_and_update(
    owner_client, make_contact
):
    response = owner_client.post(
        "/v1/contacts",
        {"email": "jane@example.com", "properties": {"city": "Par\u0000is"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "properties.city": ["Null characters are not allowed."]
    }
    assert not Contact.objects.exists()
    jane = make_contact("jane@example.com", firstname="Jane")
    response = owner_client.put(
        f"/v1/contacts/{jane.public_id}", {"properties": {"firstname": "\u0000"}}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["properties.firstname"]
    jane.refresh_from_db()
    assert jane.firstname == "Jane"


def test_a_nul_in_a_batch_upsert_is_a_400_naming_the_item(owner_client):
    response = owner_client.post(
        "/v1/contacts/batch",
        {
            "upsert": [
                {"email": "ok@example.com"},
                {"email": "jane@example.com", "properties": {"city": "\u0000"}},
            ]
        },
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["upsert[1].properties.city"]
    assert not Contact.objects.exists()


@pytest.mark.parametrize("body", ["[]", '["jane@example.com"]', '"x"', "1", "true", "null"])
def test_a_body_that_is_not_an_object_is_a_400(owner_client, body):
    response = owner_client.post("/v1/contacts", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"non_field_errors": ["Expected a JSON object."]}
