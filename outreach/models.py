"""Identities (who acts), actions (what is done, when), and their audit trail."""

from __future__ import annotations

import uuid
from functools import partial

from django.conf import settings
from django.db import models
from django.db.models import Q

from accounts.models import ApiKey, Membership, WorkspaceOwned, new_public_id, validate_timezone


class IdentityChannel(models.TextChoices):
    EMAIL = "email", "Email"
    LINKEDIN = "linkedin", "LinkedIn"
    SMS = "sms", "SMS"
    PHONE = "phone", "Phone"


class ActionType(models.TextChoices):
    SEND_EMAIL = "send_email", "Send email"
    EMAIL_MESSAGE = "email_message", "Email reply in thread"
    LINKEDIN_MESSAGE = "linkedin_message", "LinkedIn message"
    SEND_SMS = "send_sms", "Send SMS"
    CALL_CONTACT = "call_contact", "Call contact"
    UPDATE_LIFECYCLE_STAGE = "update_lifecycle_stage", "Update lifecycle stage"
    TASK = "task", "Task"


# Which identity channels may perform each type; None means any identity.
TYPE_CHANNELS: dict[str, set[str] | None] = {
    ActionType.SEND_EMAIL: {IdentityChannel.EMAIL},
    ActionType.EMAIL_MESSAGE: {IdentityChannel.EMAIL},
    ActionType.LINKEDIN_MESSAGE: {IdentityChannel.LINKEDIN},
    ActionType.SEND_SMS: {IdentityChannel.SMS},
    ActionType.CALL_CONTACT: {IdentityChannel.PHONE},
    ActionType.UPDATE_LIFECYCLE_STAGE: None,
    ActionType.TASK: None,
}


class ActionStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    SCHEDULED = "scheduled", "Scheduled"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"


# Not yet claimed by a worker: the statuses an action can still be cancelled from
# (action_cancel; a stopped enrollment cancels these). Magpipe calls them "pending".
# Tuples, not sets: the partial indexes below take them as their condition, and
# the autodetector compares that condition in order.
WAITING_STATUSES = (ActionStatus.PENDING_APPROVAL, ActionStatus.SCHEDULED)
# Not yet final: waiting or being executed (what /v2/actions lists).
UNFINISHED_STATUSES = (*WAITING_STATUSES, ActionStatus.PROCESSING)
FINAL_STATUSES = {
    ActionStatus.COMPLETED,
    ActionStatus.FAILED,
    ActionStatus.CANCELLED,
    ActionStatus.REJECTED,
}


class FailureCode(models.TextChoices):
    """Why a failed action failed, for code to read (the text is error_message).
    Blank on an action that has not failed. README: "Failure codes"."""

    SUPPRESSED = "suppressed", "Contact suppressed"
    INVALID_RECIPIENT = "invalid_recipient", "Invalid recipient"
    INVALID_ACTION = "invalid_action", "Cannot be sent as it is"
    PROVIDER_REJECTED = "provider_rejected", "Rejected by the provider"
    NOT_CONFIGURED = "not_configured", "Provider not configured"
    GAVE_UP = "gave_up", "Gave up after retries"
    OTHER = "other", "Other"


def default_window_days() -> list[int]:
    return [0, 1, 2, 3, 4]  # Monday to Friday (ISO weekday - 1)


class Identity(WorkspaceOwned):
    """A mailbox, LinkedIn account, or phone number that actions are performed as."""

    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "id"))
    channel = models.CharField(max_length=16, choices=IdentityChannel.choices)
    address = models.CharField(
        max_length=320, help_text="Email address, LinkedIn profile URL, or E.164 number."
    )
    display_name = models.CharField(max_length=200, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    # Used by the execution engine: sends over the limit or outside the window
    # are deferred, not failed.
    daily_limit = models.PositiveIntegerField(null=True, blank=True)
    window_days = models.JSONField(default=default_window_days, blank=True)
    window_start = models.TimeField(null=True, blank=True)
    window_end = models.TimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "identities"
        ordering = ["display_name", "address"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "channel", "address"], name="identity_unique_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.address}>" if self.display_name else self.address


class Action(WorkspaceOwned):
    """One outreach action. Three stable ids, one per facade: `id` (integer,
    Salesloft), `uuid` (Magpipe) and `public_id` (`act_…`, Pathbound)."""

    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "act"))
    uuid = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=32, choices=ActionType.choices)
    params = models.JSONField(default=dict)
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="actions")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept when the contact is deleted: actions stay in the audit log.
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="actions",
    )
    list_id = models.CharField(max_length=200, blank=True)
    item_id = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    require_approval = models.BooleanField(default=False)
    direct = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=ActionStatus.choices)
    scheduled_time = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    retry_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    failure_code = models.CharField(max_length=32, choices=FailureCode.choices, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    # Salesloft's grouping of steps that touch a person together.
    multitouch_group_id = models.BigIntegerField(null=True, blank=True)
    # Set when the action is a cadence step's (outreach.services.cadences).
    cadence = models.ForeignKey(
        "outreach.Cadence", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    step = models.ForeignKey(
        "outreach.Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enrollment = models.ForeignKey(
        "outreach.Enrollment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="actions",
    )
    # Dispatcher lease: a claimed row is `processing` until lease_expires_at.
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("approve_action", "Can approve, reject and edit actions")]
        indexes = [
            # The dispatcher's queue query: scheduled rows by due time.
            # (scheduled_time, id) is exactly the claim's ORDER BY: no sort.
            models.Index(
                fields=["scheduled_time", "id"],
                condition=Q(status="scheduled"),
                name="action_due_idx",
            ),
            # Expired leases to reclaim.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="processing"),
                name="action_lease_idx",
            ),
            # The approval queue, oldest due first.
            models.Index(
                fields=["workspace", "scheduled_time"],
                condition=Q(status="pending_approval"),
                name="action_approval_queue_idx",
            ),
            models.Index(fields=["workspace", "status", "created_at"], name="action_ws_status_idx"),
            models.Index(fields=["workspace", "created_at"], name="action_ws_created_idx"),
            models.Index(fields=["workspace", "updated_at"], name="action_ws_updated_idx"),
            models.Index(fields=["workspace", "type"], name="action_ws_type_idx"),
            models.Index(fields=["workspace", "list_id"], name="action_ws_list_idx"),
            models.Index(fields=["workspace", "item_id"], name="action_ws_item_idx"),
            models.Index(fields=["workspace", "owner"], name="action_ws_owner_idx"),
            models.Index(fields=["contact", "created_at"], name="action_contact_idx"),
            # An ESP's bounce or complaint names the message it sent.
            models.Index(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="action_provider_msg_idx",
            ),
            # /v2/actions: the not-yet-executed actions of a workspace by update time.
            models.Index(
                fields=["workspace", "updated_at", "id"],
                condition=Q(status__in=list(UNFINISHED_STATUSES)),
                name="action_v2_open_idx",
            ),
            # ... and of one cadence (Salesloft clients filter by cadence_id): without
            # it the planner walks action_v2_open_idx and filters (bench/facades.py).
            models.Index(
                fields=["workspace", "cadence", "updated_at", "id"],
                condition=Q(status__in=list(UNFINISHED_STATUSES)),
                name="action_v2_cadence_idx",
            ),
            # /functions/v1/scheduled-actions?status=pending: next to run first.
            models.Index(
                fields=["workspace", "scheduled_time", "id"],
                condition=Q(status__in=list(WAITING_STATUSES)),
                name="action_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type} ({self.status})"


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    EDIT = "edit", "Edit and approve"


# A decision in the past tense, as the admin's messages and history say it.
DECIDED = {
    Decision.APPROVE: "Approved",
    Decision.REJECT: "Rejected",
    Decision.EDIT: "Edited and approved",
}


class ApprovalDecision(WorkspaceOwned):
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="decisions")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer_label = models.CharField(max_length=200)
    comment = models.TextField(blank=True)
    params_before = models.JSONField(default=dict)
    params_after = models.JSONField(default=dict)
    scheduled_time_before = models.DateTimeField(null=True, blank=True)
    scheduled_time_after = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The admin dashboard's decisions of the last 24 hours / 7 days (median time
            # to decision, decisions per reviewer): without it each range query reads
            # every decision of the workspace through the workspace_id index.
            models.Index(fields=["workspace", "created_at"], name="decision_ws_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} by {self.reviewer_label}"


class ActionTransition(WorkspaceOwned):
    """Audit trail: every status change with who, from, to, when and why."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=ActionStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=ActionStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} by {self.actor_label}"


class AttemptOutcome(models.TextChoices):
    # Started in a batch, its provider call not made yet (nothing left this
    # machine): a worker dying now loses nothing, the reclaimer requeues it.
    QUEUED = "queued", "Queued in its batch"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    TRANSIENT_ERROR = "transient_error", "Transient error (retried)"
    PERMANENT_ERROR = "permanent_error", "Permanent error"
    LOST = "lost", "Lost (worker died, lease reclaimed)"


class ActionAttempt(WorkspaceOwned):
    """One execution attempt: a provider call made under one lease. A lease
    allows exactly one attempt, so a redelivered task cannot send twice."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="attempts")
    # Denormalised for the rolling 24-hour daily-limit count per identity.
    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    lease_token = models.UUIDField()
    outcome = models.CharField(
        max_length=20, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    error_message = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            # One claim (lease token) may cover a batch; each action gets one
            # attempt per claim.
            models.UniqueConstraint(fields=["action", "lease_token"], name="attempt_one_per_lease")
        ]
        indexes = [
            models.Index(fields=["identity", "started_at"], name="attempt_identity_time_idx"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.action_id}: {self.outcome}"


class PendingApproval(Action):
    """The reviewers' approval queue in the admin: actions awaiting a decision."""

    class Meta:
        proxy = True
        verbose_name = "action awaiting approval"
        verbose_name_plural = "approval queue"


# --- Approval requests (outreach/approval_requests.py) --------------------------------
class ApprovalDigest(WorkspaceOwned):
    """One approval request email to one reviewer (a membership): the actions it
    lists are its notices. Written, with its notices, before the email is sent;
    `sent_at` stays empty until the mail server took it, and `claimed_until` is a
    lease so that a digest whose sender died is sent again by a later tick."""

    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="approval_digests"
    )
    created_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # "When did this reviewer get their last digest?" (the digest window).
            models.Index(fields=["membership", "created_at"], name="approval_digest_member_idx"),
            # Digests still to send (a failed or interrupted send).
            models.Index(
                fields=["claimed_until"],
                condition=Q(sent_at__isnull=True),
                name="approval_digest_unsent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"approval digest {self.pk} to {self.membership_id}"


class ApprovalNotice(WorkspaceOwned):
    """This reviewer (membership) was told about this action, in this digest.
    Unique per (membership, action): nothing is notified twice."""

    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="approval_notices"
    )
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="approval_notices")
    digest = models.ForeignKey(ApprovalDigest, on_delete=models.CASCADE, related_name="notices")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # Also the index of the digest's "not yet notified to this reviewer" test.
            models.UniqueConstraint(fields=["membership", "action"], name="approval_notice_unique")
        ]

    def __str__(self) -> str:
        return f"{self.action_id} notified to {self.membership_id}"


class ApprovalSlackNotice(WorkspaceOwned):
    """This action was (or is being) posted to the workspace's Slack-compatible
    approval webhook. Unique per action: posted once. `posted_at` stays empty
    until the webhook answered 2xx; an unposted notice whose `claimed_until`
    passed is posted again by a later tick."""

    action = models.OneToOneField(
        Action, on_delete=models.CASCADE, related_name="approval_slack_notice"
    )
    created_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            # The workspace's last post (the digest window) and what is left to post.
            models.Index(fields=["workspace", "created_at"], name="approval_slack_ws_idx"),
            models.Index(
                fields=["claimed_until"],
                condition=Q(posted_at__isnull=True),
                name="approval_slack_unposted_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_id} posted to Slack"


class ApprovalLinkUse(WorkspaceOwned):
    """A one-click approval link that was used: its nonce, written in the same
    transaction as the decision it made, so a link decides at most once."""

    nonce = models.CharField(max_length=32, unique=True)
    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices)
    used_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"link {self.nonce} ({self.decision})"


# --- Cadences (sequences) -------------------------------------------------------------
class CadenceSharing(models.TextChoices):
    TEAM = "team", "Team"
    PERSONAL = "personal", "Personal"


class Cadence(WorkspaceOwned):
    """A sequence of steps a contact is enrolled in (Salesloft's cadence, HubSpot's
    sequence). A personal cadence is seen and used by its owner only (and admins)."""

    name = models.CharField(max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sharing = models.CharField(
        max_length=16, choices=CadenceSharing.choices, default=CadenceSharing.TEAM
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["workspace", "name"], name="cadence_ws_name_idx")]

    def __str__(self) -> str:
        return self.name


class StepType(models.TextChoices):
    """Salesloft's step types plus the channels this hub sends on."""

    EMAIL = "email", "Email"
    PHONE = "phone", "Phone call"
    SMS = "sms", "SMS"
    LINKEDIN = "linkedin", "LinkedIn message"
    OTHER = "other", "Other (a task)"


# The action each step type schedules.
STEP_ACTION_TYPES: dict[str, str] = {
    StepType.EMAIL: ActionType.SEND_EMAIL,
    StepType.PHONE: ActionType.CALL_CONTACT,
    StepType.SMS: ActionType.SEND_SMS,
    StepType.LINKEDIN: ActionType.LINKEDIN_MESSAGE,
    StepType.OTHER: ActionType.TASK,
}


class Step(WorkspaceOwned):
    """One touch of a cadence. `params_template` is the action's params with
    sandboxed Jinja2 in its strings (`{{ contact.firstname }}`), rendered at
    enrollment time for each contact; `day` is the cadence day it falls on (1 =
    the day of enrollment, Salesloft's numbering)."""

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField()
    day = models.PositiveIntegerField(default=1)
    type = models.CharField(max_length=16, choices=StepType.choices)
    name = models.CharField(max_length=200, blank=True)
    params_template = models.JSONField(default=dict)
    identity = models.ForeignKey(
        Identity, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    require_approval = models.BooleanField(default=False)
    multitouch_group_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cadence", "order"]
        constraints = [
            models.UniqueConstraint(fields=["cadence", "order"], name="step_unique_order")
        ]

    def __str__(self) -> str:
        return f"{self.cadence} · step {self.order} ({self.type})"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class StopReason(models.TextChoices):
    REPLIED = "replied", "The contact replied"
    BOUNCED = "bounced", "An email bounced"
    UNSUBSCRIBED = "unsubscribed", "The contact unsubscribed"
    DO_NOT_CONTACT = "do_not_contact", "Marked do-not-contact"
    MEETING_BOOKED = "meeting_booked", "A meeting was booked"
    MANUAL = "manual", "Stopped by a user"
    STEP_FAILED = "step_failed", "A step failed"
    CADENCE_DEACTIVATED = "cadence_deactivated", "The cadence was deactivated"


class Enrollment(WorkspaceOwned):
    """A contact on a cadence. At most one active enrollment per contact and cadence."""

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="enrollments")
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="enrollments"
    )
    # Whose actions the steps become (Salesloft's action user).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(
        max_length=16, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE
    )
    current_step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stop_reason = models.CharField(max_length=32, choices=StopReason.choices, blank=True)
    stop_note = models.CharField(max_length=500, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cadence", "contact"],
                condition=Q(state="active"),
                name="enrollment_one_active",
            )
        ]
        indexes = [
            models.Index(
                fields=["contact"], condition=Q(state="active"), name="enrollment_active_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} on {self.cadence} ({self.state})"
