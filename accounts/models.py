"""Tenancy: workspaces, their members, and API keys with scopes."""

from __future__ import annotations

import secrets
import uuid
import zoneinfo
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from config.crypto import EncryptedTextField


def new_public_id(prefix: str) -> str:
    """Opaque, URL-safe public ids such as ``ws_3f9a1c0d2b7e4a51``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone.", code="invalid_timezone")


class Scope(models.TextChoices):
    ACTIONS_READ = "actions:read", "Read actions"
    ACTIONS_WRITE = "actions:write", "Create, cancel and execute actions"
    ACTIONS_APPROVE = "actions:approve", "Approve, reject and edit actions"
    CONTACTS_READ = "contacts:read", "Read contacts"
    CONTACTS_WRITE = "contacts:write", "Create, update and delete contacts"
    SETTINGS_MANAGE = "settings:manage", "Manage settings (automations, API keys)"
    TICKETS_READ = "tickets:read", "Ticket and phone-auth context"


class Workspace(models.Model):
    """The tenant. Every other row belongs to exactly one workspace."""

    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "ws"))
    name = models.CharField(max_length=200, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # A Slack-compatible incoming webhook for approval requests (README "Approval
    # requests"). Its path is a secret: encrypted at rest, write-only in the admin.
    # db_default too: rows written by code that predates the column (a rolling
    # deploy, or a migration's historical model) get the same blank.
    approval_slack_webhook_url = EncryptedTextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkspaceQuerySet(models.QuerySet):
    def for_workspace(self, workspace: Workspace) -> WorkspaceQuerySet:
        return self.filter(workspace=workspace)


class WorkspaceOwned(models.Model):
    """Base for every tenant row: views reach them only through `for_workspace`."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # The user's id on the Salesloft facade (`user_guid` filters on /v2/actions).
    guid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Blank means "the workspace's timezone".
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    # A reviewer (approve_action permission) gets approval request emails unless
    # this is off: the admin, or the link in every approval email's footer.
    approval_emails = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Email this member when actions await their approval.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def effective_timezone(self) -> str:
        return self.timezone or self.workspace.timezone


API_KEY_PREFIX = "ohk"


class ApiKey(models.Model):
    """A bearer key. Only a SHA-256 of the secret part is stored; the full key is
    shown once at creation. The visible prefix finds the row in one indexed
    lookup, the hash comparison proves the secret."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_keys")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def public_id(self) -> str:
        return f"key_{self.prefix}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def is_workspace_admin(self) -> bool:
        # `role` is annotated by the authentication lookup (one query per request).
        return getattr(self, "role", None) == Role.ADMIN


class IdempotencyKey(models.Model):
    """A replayable response for an `Idempotency-Key` header, per workspace.

    The row is inserted (committed) before the request runs, so a concurrent
    duplicate finds it `in_progress` and gets 409; afterwards it holds the
    response to replay for 24 hours. `fingerprint` is a hash of method, path and
    body: the same key with another request is a 422.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    completed = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "key"], name="idempotency_unique_key")
        ]

    def __str__(self) -> str:
        return self.key


# --- Background jobs -------------------------------------------------------------
class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


JOB_ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class BackgroundJob(models.Model):
    """Long work (a CSV import, a bulk decision) run by a worker in batches.

    What it works on is stored on the row (`payload`: an uploaded file's bytes;
    `params`: ids and options), so the web process and the worker share nothing
    but the database. `done` counts the items finished: each batch commits its
    writes, `done` and its errors in one transaction, so a job taken over after
    a crash resumes at `done` and never handles an item twice. Kinds of job are
    registered in `accounts.jobs`. See README "Background jobs".
    """

    # Null only for a superuser's selection across several workspaces; only
    # superusers and its creator see such a job.
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=64)
    description = models.CharField(max_length=255, blank=True)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    payload = models.BinaryField(blank=True, default=b"", editable=False)
    params = models.JSONField(default=dict, blank=True)
    failure_message = models.TextField(blank=True)
    # Who runs it: a claim writes a fresh token and an expiry, renewed by every
    # batch; a job whose lease expired is taken over (accounts.resume_background_jobs).
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "background job"

    def __str__(self) -> str:
        return self.description or f"{self.kind} #{self.pk}"

    @property
    def ended(self) -> bool:
        return self.status in JOB_ENDED

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.ended else 0
        return min(100, self.done * 100 // self.total)


class BackgroundJobError(models.Model):
    """One item a job skipped: its row (1-based), the item's key (an email, an
    action id), the column or field at fault and why. Downloadable as CSV."""

    job = models.ForeignKey(BackgroundJob, on_delete=models.CASCADE, related_name="errors")
    row = models.PositiveIntegerField()
    key = models.CharField(max_length=255, blank=True)
    column = models.CharField(max_length=100, blank=True)
    message = models.TextField()

    class Meta:
        ordering = ["row", "id"]
        indexes = [models.Index(fields=["job", "row"], name="jobs_error_job_row")]

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}"
