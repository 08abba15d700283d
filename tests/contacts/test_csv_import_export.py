"""CSV import and export of contacts in the admin (django-import-export).

Import runs through the contact services and is all or nothing: the tests
count rows before and after to show that a bad file changes nothing.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.actors import Actor
from contacts import services
from contacts.models import Company, Contact, ContactEvent
from contacts.resources import COLUMNS, ContactResource
from tests.admin_helpers import messages_of, staff_client

pytestmark = pytest.mark.django_db

CONTACTS = "/admin/contacts/contact/"
IMPORT = f"{CONTACTS}import/"
PROCESS = f"{CONTACTS}process_import/"
EXPORT = f"{CONTACTS}export/"
SYSTEM = Actor.system("tests")


def csv_text(rows: list[dict], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def upload(client: Client, text: str, workspace) -> object:
    return client.post(
        IMPORT,
        {
            "workspace": workspace.pk,
            "resource": "0",
            "format": "0",
            "import_file": SimpleUploadedFile("contacts.csv", text.encode(), "text/csv"),
        },
    )


def confirm(client: Client, preview) -> object:
    form = preview.context["confirm_form"]
    return client.post(PROCESS, {name: form.initial[name] for name in form.fields}, follow=True)


def export(client: Client, **filters) -> list[dict]:
    fields = {f"contactresource_{name}": "on" for name in ContactResource().get_export_order()}
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response = client.post(f"{EXPORT}?{query}" if query else EXPORT, {"format": "0", **fields})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="contacts-' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    return list(csv.DictReader(io.StringIO(text)))


def snapshot() -> tuple[int, int, int, list]:
    return (
        Contact.objects.count(),
        ContactEvent.objects.count(),
        Company.objects.count(),
        list(Contact.objects.order_by("id").values()),
    )


# --- Export ----------------------------------------------------------------------------
def test_export_has_the_header_and_the_visible_workspaces_rows(
    staff, workspace, other_workspace, make_contact
):
    ada = make_contact(
        "ada@example.com",
        firstname="Ada",
        lastname="Lovelace",
        jobtitle="Analyst",
        company="Analytical Engines",
        phone="+14155551234",
        linkedin_url="https://www.linkedin.com/in/ada",
        city="London",
        country="GB",
        industry="Computing",
        lifecyclestage="customer",
        lead_status="won",
        timezone="Europe/London",
    )
    grace = make_contact("grace@example.com")
    services.contact_suppress(contact=grace, flag="unsubscribed", reason="link", actor=SYSTEM)
    make_contact("hidden@example.org", workspace_=other_workspace)

    rows = export(staff)

    assert [r["email"] for r in rows] == ["grace@example.com", "ada@example.com"]
    assert rows[1] == {
        "email": "ada@example.com",
        "firstname": "Ada",
        "lastname": "Lovelace",
        "jobtitle": "Analyst",
        "company": "Analytical Engines",
        "phone": "+14155551234",  # a plain number is not escaped
        "linkedin_url": "https://www.linkedin.com/in/ada",
        "city": "London",
        "state": "",
        "country": "GB",
        "industry": "Computing",
        "lifecyclestage": "customer",
        "lead_status": "won",
        "timezone": "Europe/London",
        "do_not_contact": "false",
        "unsubscribed": "false",
        "bounced": "false",
        "created": ada.created_at.isoformat(),
    }
    assert (rows[0]["unsubscribed"], rows[0]["company"]) == ("true", "")


def test_export_follows_the_list_filters_and_escapes_formulas(staff, workspace, make_contact):
    make_contact("lead@example.com", lifecyclestage="lead", firstname="=HYPERLINK(1)")
    make_contact("customer@example.com", lifecyclestage="customer")

    rows = export(staff, lifecyclestage__exact="lead")

    assert [r["email"] for r in rows] == ["lead@example.com"]
    assert rows[0]["firstname"] == "'=HYPERLINK(1)"


def test_a_superuser_exports_every_workspace(owner, workspace, other_workspace, make_contact):
    make_contact("a@example.com")
    make_contact("b@example.org", workspace_=other_workspace)
    owner.is_superuser = True
    owner.save(update_fields=["is_superuser"])
    client = staff_client(owner, app_label="contacts")

    assert sorted(r["email"] for r in export(client)) == ["a@example.com", "b@example.org"]


def test_export_needs_the_view_permission(owner, workspace):
    client = staff_client(owner, app_label="contacts", codenames=())  # staff, no permission
    assert client.post(EXPORT, {"format": "0"}).status_code == 403
    assert client.get(IMPORT).status_code == 403


# --- Import ----------------------------------------------------------------------------
def test_importing_a_good_file_creates_and_updates_contacts_with_events(
    staff, workspace, owner, make_contact
):
    existing = make_contact("known@example.com", firstname="Kim", jobtitle="Intern")
    text = csv_text(
        [
            {
                "email": "new@example.com",
                "firstname": "Nora",
                "lastname": "New",
                "company": "Initech",
                "phone": "+1 415 555 1234",
                "lifecyclestage": "lead",
                "timezone": "Europe/Amsterdam",
                "do_not_contact": "",
                "unsubscribed": "false",
            },
            {
                "email": "KNOWN@example.com",  # matched case-insensitively
                "firstname": "",  # blank: left unchanged
                "lastname": "",
                "company": "",
                "phone": "",
                "lifecyclestage": "customer",
                "timezone": "",
                "do_not_contact": "true",
                "unsubscribed": "",
            },
        ]
    )
    before = snapshot()

    preview = upload(staff, text, workspace)

    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert [row.import_type for row in result.rows] == ["new", "update"]
    assert "confirm_form" in preview.context
    assert "Importing into workspace <strong>Acme</strong>" in preview.content.decode()
    assert snapshot() == before  # the preview is a dry run, rolled back

    done = confirm(staff, preview)

    assert done.status_code == 200
    assert "Import finished: 1 new, 1 updated" in " ".join(messages_of(done))
    new = Contact.objects.get(email="new@example.com")
    assert (new.workspace, new.phone, new.company.name) == (workspace, "+14155551234", "Initech")
    assert (new.lifecyclestage, new.timezone) == ("lead", "Europe/Amsterdam")
    assert ContactEvent.objects.filter(contact=new).get().type == "contact.created"

    existing.refresh_from_db()
    assert existing.email == "known@example.com"
    assert (existing.firstname, existing.jobtitle, existing.lifecyclestage) == (
        "Kim",
        "Intern",
        "customer",
    )
    assert existing.do_not_contact and existing.do_not_contact_reason == "csv import"
    types = set(ContactEvent.objects.filter(contact=existing).values_list("type", flat=True))
    assert types == {
        "contact.created",
        "contact.updated",
        "contact.lifecycle_changed",
        "contact.suppression_changed",
    }
    labels = set(
        ContactEvent.objects.exclude(type="contact.created", contact=existing).values_list(
            "actor_label", flat=True
        )
    )
    assert labels == {f"admin:{owner.username}"}


def test_a_file_with_one_bad_row_imports_nothing(staff, workspace, make_contact):
    make_contact("known@example.com", firstname="Kim")
    text = csv_text(
        [
            {"email": "good@example.com", "phone": "+14155551234", "lifecyclestage": "lead"},
            {"email": "known@example.com", "phone": "555-1234", "lifecyclestage": "lead"},
            {"email": "third@example.com", "phone": "", "lifecyclestage": "whale"},
            {"email": "not-an-email", "phone": "", "lifecyclestage": ""},
        ]
    )
    before = snapshot()

    response = upload(staff, text, workspace)

    assert response.status_code == 200
    assert "confirm_form" not in response.context
    result = response.context["result"]
    errors = {row.number: row.error_dict for row in result.invalid_rows}
    assert set(errors) == {2, 3, 4}
    assert "E.164" in errors[2]["phone"][0]
    assert "Must be one of" in errors[3]["lifecyclestage"][0]
    assert "email" in errors[4]
    html = response.content.decode()
    assert "Some rows failed to validate" in html
    assert "E.164" in html and "lifecyclestage" in html
    assert snapshot() == before


def test_the_import_refuses_to_lift_suppression(staff, workspace, make_contact):
    dnc = make_contact("dnc@example.com")
    services.contact_suppress(contact=dnc, flag="do_not_contact", reason="x", actor=SYSTEM)
    text = csv_text(
        [
            {"email": "dnc@example.com", "do_not_contact": "false", "unsubscribed": ""},
            {"email": "new@example.com", "do_not_contact": "", "unsubscribed": "true"},
            {"email": "two@example.com", "do_not_contact": "maybe", "unsubscribed": ""},
        ]
    )
    before = snapshot()

    result = upload(staff, text, workspace).context["result"]

    errors = {row.number: row.error_dict for row in result.invalid_rows}
    assert "cannot clear it" in errors[1]["do_not_contact"][0]
    assert "Read-only" in errors[2]["unsubscribed"][0]
    assert "true or false" in errors[3]["do_not_contact"][0]
    assert snapshot() == before


def test_an_export_imports_back_unchanged(staff, workspace, make_contact):
    make_contact("a@example.com", firstname="=cmd", company="Acme", phone="+14155551234")
    b = make_contact("b@example.com", lifecyclestage="lead")
    services.contact_suppress(contact=b, flag="bounced", reason="hard", actor=SYSTEM)
    rows = export(staff)
    before = snapshot()

    preview = upload(staff, csv_text(rows, COLUMNS), workspace)
    assert not preview.context["result"].has_validation_errors()
    done = confirm(staff, preview)

    assert "Import finished: 0 new, 2 updated" in " ".join(messages_of(done))
    assert snapshot() == before  # same values: no change, no event


def test_a_row_that_fails_at_confirmation_rolls_back_the_whole_import(
    staff, workspace, make_contact
):
    known = make_contact("known@example.com")
    text = csv_text(
        [
            {"email": "new@example.com", "unsubscribed": ""},
            {"email": "known@example.com", "unsubscribed": "false"},
        ]
    )
    preview = upload(staff, text, workspace)
    assert "confirm_form" in preview.context
    # Between the preview and the confirmation the contact unsubscribes, so the
    # second row would now change a read-only flag.
    services.contact_suppress(contact=known, flag="unsubscribed", reason="link", actor=SYSTEM)
    before = snapshot()

    done = confirm(staff, preview)

    assert done.redirect_chain[-1][0] == IMPORT
    message = " ".join(messages_of(done))
    assert "Nothing was imported" in message and "row 2: unsubscribed" in message
    assert snapshot() == before
    assert not Contact.objects.filter(email="new@example.com").exists()


def test_the_import_goes_only_into_a_visible_workspace(staff, workspace, other_workspace):
    page = staff.get(IMPORT)
    assert list(page.context["form"].fields["workspace"].queryset) == [workspace]

    response = upload(staff, csv_text([{"email": "x@example.com"}]), other_workspace)

    assert "workspace" in response.context["form"].errors
    assert not Contact.objects.exists()


def test_a_file_without_an_email_column_is_refused(staff, workspace):
    response = upload(staff, csv_text([{"firstname": "Nameless"}]), workspace)

    assert "confirm_form" not in response.context
    html = response.content.decode()
    assert "not present in the file headers: email" in html
    assert "Traceback" not in html
    assert not Contact.objects.exists()
