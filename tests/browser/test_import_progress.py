"""A contacts CSV import in a real browser: upload the file, land on the job's
progress page, watch the bar (polled by accounts/job_progress.js) reach the
end, then download the skipped rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from accounts import services as account_services
from accounts.models import BackgroundJob
from contacts.models import Contact
from tests.factories import make_staff_member

pytestmark = pytest.mark.browser

ROWS = 120


@pytest.fixture
def importer(workspace):
    permissions = Permission.objects.filter(content_type__app_label="contacts")
    return make_staff_member(workspace, "ivy@example.org", permissions)


@pytest.fixture
def no_worker(monkeypatch):
    """No worker consumes the broker here: the test runs the job itself, as a worker
    would, once the browser has shown it queued."""
    monkeypatch.setattr(account_services, "_enqueue", lambda job_id: None)


def test_an_import_shows_its_progress_to_the_end_and_offers_its_errors(
    importer, workspace, live_server, page, log_in, screenshot, tmp_path, no_worker
):
    rows = [{"email": f"p{i}@example.com", "lifecyclestage": "lead"} for i in range(ROWS)]
    rows[7]["lifecyclestage"] = "whale"
    file = tmp_path / "contacts.csv"
    with file.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["email", "lifecyclestage"])
        writer.writeheader()
        writer.writerows(rows)

    log_in(importer, next="/admin/contacts/contact/")
    page.click("a.import_link")
    expect(page.locator("h1")).to_have_text("Import contacts")
    page.set_input_files("input[name=import_file]", str(file))
    page.click("input[type=submit][value='Start import']")

    bar = page.locator("progress#job-bar")
    expect(bar).to_be_visible()
    expect(page.locator("#job-status")).to_have_text("Queued")
    expect(page.locator("#job-total")).to_have_text(str(ROWS))
    expect(page.locator("#job-errors-link")).to_be_hidden()
    screenshot("queued")

    job = BackgroundJob.objects.get()
    account_services.background_job_run(job_id=job.pk)  # the worker runs it

    expect(page.locator("#job-status")).to_have_text("Succeeded")
    expect(bar).to_have_attribute("value", str(ROWS))
    expect(bar).to_have_attribute("max", str(ROWS))
    expect(page.locator("#job-done")).to_have_text(str(ROWS))
    expect(page.locator("#job-errors")).to_have_text("1")
    link = page.get_by_role("link", name="Download errors (CSV)")
    expect(link).to_be_visible()
    screenshot("done")

    with page.expect_download() as download:
        link.click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    errors = list(csv.DictReader(io.StringIO(text)))
    assert [(e["row"], e["email"], e["column"]) for e in errors] == [
        ("8", "p7@example.com", "lifecyclestage")
    ]
    assert Contact.objects.filter(workspace=workspace).count() == ROWS - 1
