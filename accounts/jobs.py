"""The kinds of background job: a Protocol and a registry.

`accounts` runs jobs (`accounts.services.background_job_run`) but knows none of
them: an app higher up registers its kinds in its `AppConfig.ready`
(`contacts.imports`, `outreach.bulk_jobs`), as executors plug into
`outreach.executors`. A kind says how to open a job (parse its payload once per
run) and how to do items `[start, stop)` of it; the runner calls `run` inside
the batch's transaction, so what a batch writes commits with the job's `done`
and errors, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from accounts.models import BackgroundJob


@dataclass(frozen=True)
class ItemError:
    """An item a batch skipped: its 1-based row, its key (an email, an action
    id), the column or field at fault ("" for the whole item) and why."""

    row: int
    message: str
    column: str = ""
    key: str = ""


class OpenJob(Protocol):
    def run(self, start: int, stop: int) -> list[ItemError]:
        """Do items `start` to `stop - 1` (0-based) inside the caller's transaction;
        return the items skipped. An exception fails the whole job."""
        ...


class JobKind(Protocol):
    name: str  # stored in BackgroundJob.kind
    label: str  # "Contacts CSV import", shown in the admin
    key_label: str  # the errors CSV's name for ItemError.key ("email", "action")
    batch_size: int

    def open(self, job: BackgroundJob) -> OpenJob:
        """Ready the job for batches (parse its payload); raise JobRefused to fail it."""
        ...


class JobRefused(Exception):
    """The job cannot run at all (its payload is unreadable, its creator lost the
    right): it fails with this message."""


KINDS: dict[str, JobKind] = {}


def job_kind_register(kind: JobKind) -> None:
    KINDS[kind.name] = kind


def job_kind(name: str) -> JobKind | None:
    return KINDS.get(name)
