"""CSV import and export of contacts in the admin.

Export is django-import-export's. Import uploads the file, which is checked up
front (an email column) and queued as a background job; the job imports row
by row: valid rows are written through the contact services, invalid ones
are skipped and listed in the job's errors CSV. Tests run the job in process
(`run_jobs`), as a worker would.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.actors import Actor
from accounts.models import BackgroundJob, JobStatus
from accounts.services import background_job_run
from contacts import services
from contacts.models import Company, Contact, ContactEvent
from contacts.resources import COLUMNS, ContactResource
from tests.admin_helpers import messages_of, staff_client

pytestmark = pytest.mark.django_db

CONTACTS = "/admin/contacts/contact/"
IMPORT = f"{CONTACTS}import/"
EXPORT = f"{CONTACTS}export/"
JOBS = "/admin/accounts/backgroundjob/"
SYSTEM = Actor.system("tests")


def csv_text(rows: list[dict], header: list[str] | None = None) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def upload(client: Client, text: str, workspace, **kwargs) -> object:
    return client.post(
        IMPORT,
        {
            "workspace": workspace.pk,
            "import_file": SimpleUploadedFile("contacts.csv", text.encode(), "text/csv"),
        },
        **kwargs,
    )


def import_csv(client: Client, text: str, workspace) -> BackgroundJob:
    """Upload, check the redirect to the job's page, run the job as a worker would."""
    response = upload(client, text, workspace)
    assert response.status_code == 302, response.content.decode()[:2000]
    job = BackgroundJob.objects.get()
    assert response["Location"] == f"{JOBS}{job.pk}/change/"
    background_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def errors_of(client: Client, job: BackgroundJob) -> list[dict]:
    response = client.get(f"{JOBS}{job.pk}/errors.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


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

    page = staff.get(IMPORT)
    assert page.status_code == 200 and b"Start import" in page.content
    response = upload(staff, text, workspace, follow=True)

    job = BackgroundJob.objects.get()
    assert (job.kind, job.status, job.total, job.done) == ("contacts.csv_import", "queued", 2, 0)
    assert (job.workspace, job.created_by) == (workspace, owner)
    assert "Importing 2 rows into Acme in the background" in " ".join(messages_of(response))
    assert b'<progress id="job-bar"' in response.content
    assert not Contact.objects.filter(email="new@example.com").exists()  # not yet run

    background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done, job.error_count) == (JobStatus.SUCCEEDED, 2, 0)
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


def test_invalid_rows_are_skipped_and_reported_the_others_import(staff, workspace, make_contact):
    make_contact("known@example.com", firstname="Kim")
    text = csv_text(
        [
            {"email": "good@example.com", "phone": "+14155551234", "lifecyclestage": "lead"},
            {"email": "known@example.com", "phone": "555-1234", "lifecyclestage": "lead"},
            {"email": "third@example.com", "phone": "", "lifecyclestage": "whale"},
            {"email": "not-an-email", "phone": "", "lifecyclestage": ""},
            {"email": "fifth@example.com", "phone": "", "lifecyclestage": "=cmd"},
        ]
    )

    job = import_csv(staff, text, workspace)

    assert (job.status, job.done, job.total, job.error_count) == ("succeeded", 5, 5, 4)
    assert Contact.objects.get(email="good@example.com").lifecyclestage == "lead"
    assert Contact.objects.get(email="known@example.com").phone == ""  # its row was skipped
    assert not Contact.objects.filter(email__in=["third@example.com", "fifth@example.com"]).exists()
    errors = errors_of(staff, job)
    assert [(e["row"], e["email"], e["column"]) for e in errors] == [
        ("2", "known@example.com", "phone"),
        ("3", "third@example.com", "lifecyclestage"),
        ("4", "not-an-email", "email"),
        ("5", "fifth@example.com", "lifecyclestage"),
    ]
    assert "E.164" in errors[0]["message"]
    assert "Must be one of" in errors[1]["message"]
    assert errors[3]["message"].startswith("Must be one of")  # a formula never reaches a cell


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

    job = import_csv(staff, text, workspace)

    errors = {int(e["row"]): (e["column"], e["message"]) for e in errors_of(staff, job)}
    assert errors[1][0] == "do_not_contact" and "cannot clear it" in errors[1][1]
    assert errors[2][0] == "unsubscribed" and "Read-only" in errors[2][1]
    assert errors[3][0] == "do_not_contact" and "true or false" in errors[3][1]
    assert snapshot() == before
    dnc.refresh_from_db()
    assert dnc.do_not_contact


def test_an_export_imports_back_unchanged(staff, workspace, make_contact):
    make_contact("a@example.com", firstname="=cmd", company="Acme", phone="+14155551234")
    b = make_contact("b@example.com", lifecyclestage="lead")
    services.contact_suppress(contact=b, flag="bounced", reason="hard", actor=SYSTEM)
    rows = export(staff)
    assert rows[0]["firstname"] == "'=cmd" or rows[1]["firstname"] == "'=cmd"
    before = snapshot()

    job = import_csv(staff, csv_text(rows, COLUMNS), workspace)

    assert (job.status, job.done, job.error_count) == ("succeeded", 2, 0)
    assert snapshot() == before  # same values: no change, no event


def test_a_repeated_email_creates_then_updates(staff, workspace):
    text = csv_text(
        [
            {"email": "twice@example.com", "firstname": "One", "jobtitle": ""},
            {"email": "Twice@example.com", "firstname": "", "jobtitle": "CTO"},
        ]
    )

    job = import_csv(staff, text, workspace)

    assert job.error_count == 0
    contact = Contact.objects.get()
    assert (contact.firstname, contact.jobtitle) == ("One", "CTO")


def test_the_import_goes_only_into_a_visible_workspace(staff, workspace, other_workspace):
    page = staff.get(IMPORT)
    assert list(page.context["form"].fields["workspace"].queryset) == [workspace]

    response = upload(staff, csv_text([{"email": "x@example.com"}]), other_workspace)

    assert response.status_code == 200
    assert "workspace" in response.context["form"].errors
    assert not BackgroundJob.objects.exists()


def test_a_file_without_an_email_column_is_refused_and_nothing_queued(staff, workspace):
    response = upload(staff, csv_text([{"firstname": "Nameless"}]), workspace)

    assert response.status_code == 200
    errors = response.context["form"].errors["import_file"]
    assert "must name an email column" in errors[0] and "firstname" in errors[0]
    assert "Traceback" not in response.content.decode()
    assert not BackgroundJob.objects.exists()
    assert not Contact.objects.exists()


def test_a_file_that_is_not_utf8_is_refused(staff, workspace):
    response = staff.post(
        IMPORT,
        {
            "workspace": workspace.pk,
            "import_file": SimpleUploadedFile(
                "c.csv", "email\nzoë@example.com\n".encode("latin-1")
            ),
        },
    )

    assert "UTF-8" in response.context["form"].errors["import_file"][0]
    assert not BackgroundJob.objects.exists()


def test_importing_needs_add_and_change_permissions(member, workspace):
    client = staff_client(member, app_label="contacts", codenames=("view_contact",))

    assert client.get(IMPORT).status_code == 403
    assert upload(client, csv_text([{"email": "x@example.com"}]), workspace).status_code == 403


# --- The job's progress page, JSON and errors file ---------------------------------------
def test_the_progress_endpoint_reports_the_job_in_constant_queries(
    staff, workspace, django_assert_max_num_queries
):
    upload(
        staff,
        csv_text([{"email": f"p{i}@example.com"} for i in range(3)] + [{"email": "bad"}]),
        workspace,
    )
    job = BackgroundJob.objects.get()
    url = f"{JOBS}{job.pk}/progress.json"

    queued = staff.get(url).json()
    assert queued == {
        "id": job.pk,
        "status": "queued",
        "status_label": "Queued",
        "total": 4,
        "done": 0,
        "error_count": 0,
        "percent": 0,
        "ended": False,
        "failure_message": "",
    }
    background_job_run(job_id=job.pk)
    with django_assert_max_num_queries(5):  # session, user, its permissions (2), the job
        ended = staff.get(url).json()
    assert (ended["status"], ended["done"], ended["error_count"], ended["percent"]) == (
        "succeeded",
        4,
        1,
        100,
    )
    page = staff.get(f"{JOBS}{job.pk}/change/").content.decode()
    assert 'value="4"' in page and "Download errors (CSV)" in page
    assert "accounts/job_progress.js" in page
    listing = staff.get(JOBS)
    assert listing.status_code == 200 and "contacts.csv" in listing.content.decode()


def test_another_workspaces_job_is_not_found(staff, workspace, outsider, other_workspace):
    upload(staff, csv_text([{"email": "bad"}]), workspace)
    job = BackgroundJob.objects.get()
    background_job_run(job_id=job.pk)
    intruder = staff_client(outsider, app_label="contacts")

    for suffix in ("change/", "progress.json", "errors.csv"):
        assert intruder.get(f"{JOBS}{job.pk}/{suffix}").status_code == 404, suffix
    assert str(job) not in intruder.get(JOBS).content.decode()
