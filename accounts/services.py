"""Every write to workspaces, memberships and API keys goes through here."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.jobs import JobRefused, job_kind
from accounts.models import (
    API_KEY_PREFIX,
    JOB_ENDED,
    ApiKey,
    BackgroundJob,
    BackgroundJobError,
    JobStatus,
    Membership,
    Role,
    Scope,
    Workspace,
)
from config.celery import app as celery_app
from config.exceptions import Conflict, ValidationFailed

logger = logging.getLogger(__name__)

# A key's last_used_at is refreshed at most this often, so a busy integration
# does not turn every read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is enough: there is nothing
    # to brute-force, and lookups stay cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(raw: str | list[str]) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = [item.strip() for item in items if item and item.strip()]
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValidationFailed(
            f"Unknown scope(s): {', '.join(unknown)}. Valid scopes: {', '.join(Scope.values)}.",
            fields={"scopes": [f"Unknown scope {s!r}." for s in unknown]},
        )
    if not scopes:
        raise ValidationFailed("At least one scope is required.", fields={"scopes": ["Required."]})
    return sorted(set(scopes), key=Scope.values.index)


def workspace_get_or_create(*, name: str, timezone_name: str = "UTC") -> tuple[Workspace, bool]:
    return Workspace.objects.get_or_create(name=name, defaults={"timezone": timezone_name})


def user_get_or_create(*, email: str) -> tuple[AbstractUser, bool]:
    User = get_user_model()
    email = User.objects.normalize_email(email).strip()
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        return user, False
    user = User.objects.create_user(username=email.lower(), email=email)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user, True


def membership_ensure(*, workspace: Workspace, user: AbstractUser, role: Role | None) -> Membership:
    """Make `user` a member. A given role is applied; None keeps an existing one
    (a new membership then gets the member role)."""
    membership, created = Membership.objects.get_or_create(
        workspace=workspace, user=user, defaults={"role": role or Role.MEMBER}
    )
    if not created and role is not None and membership.role != role:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def api_key_create(
    *, workspace: Workspace, user: AbstractUser, name: str, scopes: list[str]
) -> tuple[ApiKey, str]:
    """Create a key and return it with the full secret, which is never stored."""
    scopes = parse_scopes(scopes)
    if not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise ValidationFailed(
            "The key's user is not a member of the workspace.",
            fields={"user": ["Not a member of this workspace."]},
        )
    for _ in range(5):
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    workspace=workspace,
                    user=user,
                    name=name,
                    scopes=scopes,
                    prefix=prefix,
                    secret_hash=hash_secret(secret),
                )
        except IntegrityError:  # prefix collision, vanishingly rare: draw again
            continue
        return key, f"{API_KEY_PREFIX}_{prefix}_{secret}"
    raise RuntimeError("Could not draw a unique API key prefix.")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    now = timezone.now()
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if updated == 0:
        raise Conflict("This API key is already revoked.", code="already_revoked")
    api_key.revoked_at = now
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use. One conditional UPDATE per request whatever the outcome, so
    a request's query count does not depend on when the key was last used."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


def api_keys_purge_revoked(*, older_than: timedelta = timedelta(days=90)) -> int:
    deleted, _ = ApiKey.objects.filter(revoked_at__lt=timezone.now() - older_than).delete()
    return deleted


def membership_approval_emails_set(*, membership: Membership, enabled: bool) -> Membership:
    """Turn a reviewer's approval request emails on or off (the admin, or the
    signed link in every approval email's footer). Idempotent."""
    Membership.objects.filter(pk=membership.pk).update(approval_emails=enabled)
    membership.approval_emails = enabled
    return membership


# --- Background jobs ------------------------------------------------------------
# The task is named, not imported: accounts.tasks imports this module.
RUN_JOB_TASK = "accounts.run_background_job"
# A running job's claim lasts this long past its last batch; a worker killed
# mid-job is replaced once it expires (accounts.resume_background_jobs).
JOB_LEASE = timedelta(minutes=2)
# A queued job no worker picked up this long after it was created (its message
# lost) is enqueued again by the same periodic task.
JOB_QUEUED_GRACE = timedelta(minutes=1)
# On SQLite (make run's embedded default) one writer holds the whole file, and a
# waiting writer polls for it about every 100 ms: a job committing batch after
# batch would starve beat, the worker's other tasks and the web for as long as it
# runs (seen: beat waited past its 20 s busy timeout during a 50,000-row import).
# A pause after each batch lets them in; PostgreSQL locks rows and needs none.
JOB_SQLITE_PAUSE_SECONDS = 0.15


def _enqueue(job_id: int) -> None:
    celery_app.send_task(RUN_JOB_TASK, args=(job_id,))


def background_job_start(
    *,
    workspace: Workspace | None,
    user: AbstractUser | None,
    kind: str,
    total: int,
    description: str = "",
    payload: bytes = b"",
    params: dict | None = None,
) -> BackgroundJob:
    """Queue a job of a registered kind; a worker picks it up once the caller's
    transaction commits."""
    if job_kind(kind) is None:
        raise ValueError(f"Unknown background job kind {kind!r}.")
    job = BackgroundJob.objects.create(
        workspace=workspace,
        created_by=user,
        kind=kind,
        description=description[:255],
        total=total,
        payload=payload,
        params=params or {},
    )
    job_id = job.pk
    transaction.on_commit(lambda: _enqueue(job_id))
    return job


def background_job_claim(*, job_id: int) -> str | None:
    """Take the job for this run: a queued one, or a running one whose lease
    expired. One conditional UPDATE: of two workers, one gets the token, the
    other None (and its message is a no-op)."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = (
        BackgroundJob.objects.filter(pk=job_id)
        .filter(Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, lease_expires_at__lt=now))
        .update(
            status=JobStatus.RUNNING,
            lease_token=token,
            lease_expires_at=now + JOB_LEASE,
            started_at=Coalesce("started_at", now),
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    )
    return token if claimed else None


def _job_end(job_id: int, token: str, status: str, failure: str = "") -> bool:
    now = timezone.now()
    return bool(
        BackgroundJob.objects.filter(pk=job_id, status=JobStatus.RUNNING, lease_token=token).update(
            # An ended job never runs again: its input (an uploaded file, up to
            # 50 MB) is dropped; what it skipped stays in BackgroundJobError.
            payload=b"",
            status=status,
            failure_message=failure,
            lease_token="",
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )
    )


def background_job_run(*, job_id: int, max_batches: int | None = None) -> BackgroundJob | None:
    """Claim the job and run its remaining batches; idempotent (a job that is
    ended, or held by a live worker, is left alone and None returned).

    Each batch is one transaction: the kind's writes for items `[done, done +
    batch_size)`, their errors and the new `done`, committed together after
    the job's row is locked and the lease checked to be still ours. A run that
    dies mid-batch loses only that batch's uncommitted work; the next claim
    resumes at `done`. `max_batches` stops early (tests, to stand in for a
    crash between batches)."""
    token = background_job_claim(job_id=job_id)
    if token is None:
        return None
    job = BackgroundJob.objects.get(pk=job_id)
    kind = job_kind(job.kind)
    try:
        if kind is None:
            raise JobRefused(f"Unknown job kind {job.kind!r}.")
        work = kind.open(job)
    except JobRefused as exc:
        _job_end(job_id, token, JobStatus.FAILED, str(exc))
        return BackgroundJob.objects.get(pk=job_id)
    batches = 0
    while max_batches is None or batches < max_batches:
        try:
            with transaction.atomic():
                locked = (
                    BackgroundJob.objects.select_for_update()
                    .filter(pk=job_id, status=JobStatus.RUNNING, lease_token=token)
                    .only("pk", "done", "total", "error_count")
                    .first()
                )
                if locked is None:
                    return None  # our lease expired and another run took over
                if locked.done >= locked.total:
                    break
                start, stop = locked.done, min(locked.done + kind.batch_size, locked.total)
                errors = work.run(start, stop)
                BackgroundJobError.objects.bulk_create(
                    [
                        BackgroundJobError(
                            job_id=job_id,
                            row=e.row,
                            key=e.key[:255],
                            column=e.column[:100],
                            message=e.message,
                        )
                        for e in errors
                    ]
                )
                now = timezone.now()
                BackgroundJob.objects.filter(pk=job_id).update(
                    done=stop,
                    error_count=F("error_count") + len(errors),
                    lease_expires_at=now + JOB_LEASE,
                    updated_at=now,
                )
        except Exception as exc:
            # A bug or an outage, not a bad item (kinds report those): the job
            # fails with what was done so far committed, rather than retrying forever.
            logger.exception("Background job %s failed", job_id)
            _job_end(job_id, token, JobStatus.FAILED, f"Stopped by an internal error: {exc}")
            return BackgroundJob.objects.get(pk=job_id)
        batches += 1
        if connection.vendor == "sqlite":
            time.sleep(JOB_SQLITE_PAUSE_SECONDS)
    else:
        return BackgroundJob.objects.get(pk=job_id)  # stopped early: still running
    _job_end(job_id, token, JobStatus.SUCCEEDED)
    return BackgroundJob.objects.get(pk=job_id)


def background_jobs_resume_stale() -> list[int]:
    """Enqueue again the jobs a worker lost: running past their lease, or queued
    long ago and never picked up. Harmless when the first message does arrive:
    the claim lets one run through."""
    now = timezone.now()
    stale = list(
        BackgroundJob.objects.filter(
            Q(status=JobStatus.RUNNING, lease_expires_at__lt=now)
            | Q(status=JobStatus.QUEUED, created_at__lt=now - JOB_QUEUED_GRACE)
        ).values_list("pk", flat=True)[:100]
    )
    for job_id in stale:
        _enqueue(job_id)
    return stale


# An ended job (and its error rows, which a 50,000-row import can fill) is kept
# this long for its progress page and errors file, then deleted.
JOB_RETENTION = timedelta(days=30)
JOB_PURGE_BATCH = 500


def background_jobs_purge_ended(*, older_than: timedelta = JOB_RETENTION) -> int:
    """Delete jobs that ended more than `older_than` ago, with their errors, in
    batches of 500 jobs (one short transaction each). Running and queued jobs are
    never touched. Returns how many jobs were deleted."""
    cutoff = timezone.now() - older_than
    ended = BackgroundJob.objects.filter(status__in=JOB_ENDED, finished_at__lt=cutoff)
    deleted = 0
    while batch := list(ended.values_list("pk", flat=True)[:JOB_PURGE_BATCH]):
        with transaction.atomic():
            BackgroundJobError.objects.filter(job_id__in=batch).delete()
            deleted += BackgroundJob.objects.filter(pk__in=batch).delete()[0]
    return deleted


def background_job_errors_csv(*, job: BackgroundJob) -> Iterator[str]:
    """The job's skipped items as CSV lines (row, key, column, message), streamed."""
    kind = job_kind(job.kind)
    key_label = kind.key_label if kind is not None else "key"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def line(values: list) -> str:
        out.seek(0)
        out.truncate()
        writer.writerow(values)
        return out.getvalue()

    yield line(["row", key_label, "column", "message"])
    rows = BackgroundJobError.objects.filter(job=job).order_by("row", "id")
    for row, key, column, message in rows.values_list("row", "key", "column", "message").iterator(
        chunk_size=2000
    ):
        yield line([row, _defused(key), column, _defused(message)])


def _defused(text: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading '."""
    if text.startswith(("=", "+", "-", "@", "\t", "\r")):
        return f"'{text}"
    return text
