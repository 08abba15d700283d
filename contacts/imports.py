"""The contacts CSV import as a background job (kind `contacts.csv_import`).

`contact_import_start` checks the file up front (UTF-8 CSV, an `email`
column, at most `MAX_IMPORT_BYTES`), counts its data rows and queues a job
holding the file's bytes, so the worker needs no shared disk. The worker
parses the file once per run and imports `BATCH_SIZE` rows per transaction:
one query looks the batch's emails up, then each row is planned and written by
`contacts.resources` (`row_plan`, `row_write`) on its own, so an invalid row is
skipped and reported (row number, column, message) while the others import.
Row 1 is the first line after the header.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from django.contrib.auth.models import AbstractUser

from accounts.actors import Actor
from accounts.jobs import ItemError, JobRefused, job_kind_register
from accounts.models import BackgroundJob, Workspace
from accounts.services import background_job_start
from config.exceptions import ValidationFailed
from contacts.models import Contact
from contacts.resources import RowInvalid, cell, row_plan, row_write
from contacts.services import contacts_by_email

KIND = "contacts.csv_import"
BATCH_SIZE = 200
MAX_IMPORT_BYTES = 50 * 1024 * 1024
IMPORT_ACTOR = "csv import"


def _text_of(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "The file is not UTF-8 text.",
            fields={"import_file": ["Save the file as CSV UTF-8 and upload it again."]},
        ) from None


def _reader(text: str) -> tuple[list[str], Iterator[list[str]]]:
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in next(rows, [])]
    return header, rows


def parse_rows(data: bytes) -> list[dict[str, str]]:
    """The file's data rows as dicts keyed by the (lower-cased) header; blank
    lines are skipped and do not count as rows."""
    header, rows = _reader(_text_of(data))
    return [dict(zip(header, row, strict=False)) for row in rows if any(c.strip() for c in row)]


def contact_import_start(
    *, workspace: Workspace, user: AbstractUser, file_name: str, data: bytes
) -> BackgroundJob:
    """Check the file and queue its import into `workspace`. A file that cannot
    be imported at all (not UTF-8, no `email` column, no rows, too big) is a
    ValidationFailed and nothing is queued."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationFailed(
            "The file is too big.",
            fields={"import_file": [f"At most {MAX_IMPORT_BYTES // (1024 * 1024)} MB."]},
        )
    try:
        header, rows = _reader(_text_of(data))
        total = sum(1 for row in rows if any(c.strip() for c in row))
    except csv.Error as exc:
        raise ValidationFailed(
            "The file is not valid CSV.", fields={"import_file": [str(exc)]}
        ) from None
    if "email" not in header:
        raise ValidationFailed(
            "The file has no email column.",
            fields={
                "import_file": [
                    "The header (first line) must name an email column: rows are matched "
                    f"by email. Columns found: {', '.join(h for h in header if h) or 'none'}."
                ]
            },
        )
    if total == 0:
        raise ValidationFailed(
            "The file has no rows.", fields={"import_file": ["No rows after the header."]}
        )
    return background_job_start(
        workspace=workspace,
        user=user,
        kind=KIND,
        total=total,
        description=f"Import {file_name} ({total:,} rows) into {workspace.name}",
        payload=data,
        params={"file_name": file_name},
    )


class _OpenImport:
    def __init__(self, job: BackgroundJob) -> None:
        self.workspace = job.workspace
        user = job.created_by
        self.actor = Actor.for_user(user) if user is not None else Actor.system(IMPORT_ACTOR)
        try:
            self.rows = parse_rows(bytes(job.payload))
        except (ValidationFailed, csv.Error) as exc:
            raise JobRefused(f"The file cannot be read: {exc}") from None

    def run(self, start: int, stop: int) -> list[ItemError]:
        batch = self.rows[start:stop]
        emails = [cell(row.get("email")) for row in batch]
        known: dict[str, Contact] = {
            c.email.lower(): c
            for c in contacts_by_email(self.workspace, [e for e in emails if e]).select_related(
                "company"
            )
        }
        errors: list[ItemError] = []
        for number, (row, email) in enumerate(zip(batch, emails, strict=True), start=start + 1):
            contact = known.get(email.lower()) if email else None
            try:
                plan = row_plan(row, contact)
                contact = row_write(
                    plan=plan, contact=contact, workspace=self.workspace, actor=self.actor
                )
            except RowInvalid as exc:
                errors.extend(
                    ItemError(
                        row=number,
                        key=email,
                        column="" if column == "__all__" else column,
                        message=message,
                    )
                    for column, messages in exc.errors.items()
                    for message in messages
                )
                continue
            known[contact.email.lower()] = contact  # a later row with this email updates it
        return errors


class ContactCsvImport:
    name = KIND
    label = "Contacts CSV import"
    key_label = "email"
    batch_size = BATCH_SIZE

    def open(self, job: BackgroundJob) -> _OpenImport:
        if job.workspace is None:
            raise JobRefused("An import needs a workspace.")
        return _OpenImport(job)


def register() -> None:
    job_kind_register(ContactCsvImport())
