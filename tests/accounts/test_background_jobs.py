"""The background job runner (accounts.services.background_job_*): batches, the
claim and its lease, resuming after a crash without writing an item twice,
status transitions and the errors CSV. A test kind writes Workspace rows, whose
unique name makes a second write of the same item an IntegrityError."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import jobs, services, tasks
from accounts.jobs import ItemError, JobRefused
from accounts.models import BackgroundJob, BackgroundJobError, JobStatus, Workspace

pytestmark = pytest.mark.django_db


class Crash(BaseException):
    """Stands in for a worker killed mid-batch (not an Exception: nothing catches it)."""


class MakeWorkspaces:
    name = "tests.make_workspaces"
    label = "Make workspaces"
    key_label = "name"
    batch_size = 3

    def __init__(self) -> None:
        self.crash_at: int | None = None
        self.batches: list[tuple[int, int]] = []
        self.refuse = False

    def open(self, job):
        if self.refuse:
            raise JobRefused("Not today.")
        names = job.params["names"]
        kind = self

        class Open:
            def run(self, start, stop):
                kind.batches.append((start, stop))
                errors = []
                for index in range(start, stop):
                    if index == kind.crash_at:
                        raise Crash
                    name = names[index]
                    if name.startswith("!"):
                        errors.append(
                            ItemError(row=index + 1, key=name, column="name", message="=bad name")
                        )
                        continue
                    Workspace.objects.create(name=name)
                return errors

        return Open()


@pytest.fixture
def kind(monkeypatch):
    kind = MakeWorkspaces()
    monkeypatch.setitem(jobs.KINDS, kind.name, kind)
    return kind


@pytest.fixture
def enqueued(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(services, "_enqueue", sent.append)
    return sent


def start(names, workspace=None, user=None) -> BackgroundJob:
    return services.background_job_start(
        workspace=workspace,
        user=user,
        kind=MakeWorkspaces.name,
        total=len(names),
        description="make",
        params={"names": names},
    )


def names(n: int) -> list[str]:
    return [f"w{i:02d}" for i in range(n)]


def test_a_job_is_enqueued_after_commit_and_runs_in_batches(
    kind, enqueued, workspace, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = start(names(8), workspace, owner)
        assert enqueued == []  # not before the commit
    assert enqueued == [job.pk]
    assert job.status == JobStatus.QUEUED

    tasks.run_background_job(job.pk)

    job.refresh_from_db()
    assert kind.batches == [(0, 3), (3, 6), (6, 8)]
    assert (job.status, job.done, job.total, job.error_count) == ("succeeded", 8, 8, 0)
    assert job.started_at and job.finished_at and job.attempts == 1
    assert (job.lease_token, job.lease_expires_at) == ("", None)
    assert Workspace.objects.filter(name__startswith="w").count() == 8


def test_a_crash_mid_batch_resumes_from_done_and_writes_nothing_twice(kind, enqueued):
    job = start(names(8))
    kind.crash_at = 4  # in the second batch, after w03 was written

    with pytest.raises(Crash):
        services.background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done) == ("running", 3)  # the first batch committed
    assert Workspace.objects.filter(name__startswith="w").count() == 3  # w03 rolled back
    # Re-delivered while the lease holds: a no-op.
    assert services.background_job_run(job_id=job.pk) is None
    # The lease expires; the periodic task hands it to another worker.
    BackgroundJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.resume_background_jobs() == [job.pk]
    assert enqueued == [job.pk]
    kind.crash_at = None

    tasks.run_background_job(job.pk)

    job.refresh_from_db()
    assert (job.status, job.done, job.attempts) == ("succeeded", 8, 2)
    assert kind.batches == [(0, 3), (3, 6), (3, 6), (6, 8)]
    assert sorted(
        Workspace.objects.filter(name__startswith="w").values_list("name", flat=True)
    ) == names(8)


def test_stopping_between_batches_and_running_again_resumes(kind):
    job = start(names(7))

    services.background_job_run(job_id=job.pk, max_batches=1)
    job.refresh_from_db()
    assert (job.status, job.done) == ("running", 3)
    BackgroundJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    services.background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done) == ("succeeded", 7)
    assert kind.batches == [(0, 3), (3, 6), (6, 7)]


def test_an_ended_job_is_never_run_again(kind):
    job = start(names(2))
    services.background_job_run(job_id=job.pk)

    assert services.background_job_run(job_id=job.pk) is None
    assert kind.batches == [(0, 2)]
    assert services.background_job_claim(job_id=job.pk) is None


def test_only_one_of_two_claims_wins(kind):
    job = start(names(2))

    first = services.background_job_claim(job_id=job.pk)
    second = services.background_job_claim(job_id=job.pk)

    assert first and second is None


def test_a_run_that_lost_its_lease_stops_without_writing(kind):
    job = start(names(6))
    services.background_job_run(job_id=job.pk, max_batches=1)
    # Another worker took it over meanwhile.
    BackgroundJob.objects.filter(pk=job.pk).update(lease_token="someone-else")

    assert services.background_job_run(job_id=job.pk) is None  # lease still live: no claim
    job.refresh_from_db()
    assert job.done == 3


def test_item_errors_are_counted_and_downloadable(kind):
    job = start(["a1", "!b", "a3", "!d"])

    services.background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done, job.error_count) == ("succeeded", 4, 2)
    text = "".join(services.background_job_errors_csv(job=job))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["row", "name", "column", "message"],
        ["2", "!b", "name", "'=bad name"],  # a formula is defused
        ["4", "!d", "name", "'=bad name"],
    ]


def test_a_refused_job_fails_with_its_reason(kind):
    kind.refuse = True
    job = start(names(2))

    services.background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.failure_message, job.done) == ("failed", "Not today.", 0)
    assert job.finished_at is not None


def test_an_internal_error_fails_the_job_keeping_committed_batches(kind, monkeypatch):
    job = start(["a1", "a2", "a3", "a1"])  # the second a1 breaks the unique name

    services.background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done) == ("failed", 3)
    assert "internal error" in job.failure_message
    assert not BackgroundJobError.objects.exists()


def test_an_unknown_kind_is_refused_at_start():
    with pytest.raises(ValueError, match="Unknown background job kind"):
        services.background_job_start(workspace=None, user=None, kind="nope", total=1)


def test_a_queued_job_whose_message_was_lost_is_enqueued_again(kind, enqueued):
    job = start(names(1))
    fresh = start(names(1))
    BackgroundJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    assert services.background_jobs_resume_stale() == [job.pk]
    assert fresh.pk not in enqueued


@pytest.mark.django_db(transaction=True)
def test_on_sqlite_a_job_pauses_between_batches_with_the_database_free(kind, monkeypatch):
    """SQLite has one writer for the whole file: a job committing batch after
    batch would starve beat and the web, so after each batch it pauses outside
    any transaction. PostgreSQL locks rows: no pause there."""
    from django.db import connection

    pauses: list[tuple[float, bool, int]] = []

    def sleep(seconds: float) -> None:
        pauses.append((seconds, connection.in_atomic_block, len(kind.batches)))

    monkeypatch.setattr(services.time, "sleep", sleep)
    job = start(names(7))
    services.background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done) == ("succeeded", 7)
    if connection.vendor == "sqlite":
        pause = services.JOB_SQLITE_PAUSE_SECONDS
        assert pauses == [(pause, False, 1), (pause, False, 2), (pause, False, 3)]
    else:
        assert pauses == []


@pytest.mark.parametrize("refused", [False, True])
def test_an_ended_job_drops_its_input_but_keeps_its_errors(kind, refused):
    job = services.background_job_start(
        workspace=None,
        user=None,
        kind=MakeWorkspaces.name,
        total=2,
        payload=b"email\nada@example.com\n",
        params={"names": ["a1", "!b"]},
    )

    services.background_job_run(job_id=job.pk, max_batches=0)  # stopped: still running
    job.refresh_from_db()
    assert bytes(job.payload) == b"email\nada@example.com\n"

    job.lease_expires_at = timezone.now() - timedelta(seconds=1)
    job.save(update_fields=["lease_expires_at"])
    kind.refuse = refused  # the second run fails as a whole, or succeeds
    services.background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ("failed" if refused else "succeeded")
    assert bytes(job.payload) == b""
    if not refused:
        assert BackgroundJobError.objects.filter(job=job).count() == 1


def test_jobs_ended_over_30_days_ago_are_purged_with_their_errors(kind, monkeypatch):
    monkeypatch.setattr(services, "JOB_PURGE_BATCH", 2)  # several batches
    old = [start([f"old{i}", "!bad"]) for i in range(3)]
    recent = start(["recent", "!bad"])
    for job in [*old, recent]:
        services.background_job_run(job_id=job.pk)
    running = start(["running"])
    queued = start(["queued"])
    BackgroundJob.objects.filter(pk=running.pk).update(status=JobStatus.RUNNING)
    long_ago = timezone.now() - timedelta(days=31)
    BackgroundJob.objects.filter(pk__in=[j.pk for j in old]).update(finished_at=long_ago)
    # Started long ago and not ended: kept whatever its dates say.
    BackgroundJob.objects.filter(pk__in=[running.pk, queued.pk]).update(finished_at=long_ago)
    BackgroundJob.objects.filter(pk=recent.pk).update(
        finished_at=timezone.now() - timedelta(days=29)
    )
    assert BackgroundJobError.objects.count() == 4

    assert tasks.purge_background_jobs() == 3

    assert set(BackgroundJob.objects.values_list("pk", flat=True)) == {
        recent.pk,
        running.pk,
        queued.pk,
    }
    assert list(BackgroundJobError.objects.values_list("job_id", flat=True)) == [recent.pk]
    assert tasks.purge_background_jobs() == 0
