"""Approval requests: digests of pending actions emailed to reviewers (README
"Approval requests"). The background side, like outreach.execution: what the
periodic task `outreach.send_approval_digests` writes and sends. The decisions
their one-click links record are outreach.services.approvals'.

**Who is told.** Reviewers: active staff members of the workspace holding
`outreach.approve_action` (`outreach.selectors.reviewer_memberships`, the rule
the admin applies), with `Membership.approval_emails` on and an email address.
A reviewer of two workspaces gets each workspace's digest on its own (its links,
its time zone, its opt-out).

**What is told, exactly once.** An `ApprovalNotice` row per (membership,
action), unique, is written with its `ApprovalDigest` in one transaction under
the membership's row lock, before the email goes out. So:

- nothing is notified twice: a second tick (or a second worker running the
  task at the same moment) finds the notices and the fresh digest;
- nothing is missed: a pending action with no notice for a reviewer is in that
  reviewer's next digest, whenever it was created or committed (a watermark on
  `created_at` would miss an action whose transaction committed late);
- a send that fails (SMTP down) or never finishes (worker killed) leaves the
  digest unsent: its `claimed_until` lease expires and a later tick sends it
  again, with the actions of it that are still pending. The one window left is
  a crash after the mail server took the message and before `sent_at` is
  written: that digest is sent twice (at-least-once, never lost).

**How often.** At most one digest per reviewer per `APPROVAL_DIGEST_MINUTES`
(default 5), counted from that reviewer's last digest: the first pending
action goes out at the next tick (the task runs every 30 s), later ones wait
for the window and go out together. A digest lists at most
`DIGEST_MAX_ACTIONS`; the rest are in the next one.

**Cost.** Finding the reviewers who are due is one query (an `EXISTS` per
membership served by `approval_notice_unique` and the approval queue's partial
index, a `NOT EXISTS` by `approval_digest_member_idx`), at most `TICK_LIMIT`
reviewers per tick; each digest then takes a constant number of queries
whatever its number of actions.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Workspace
from config.links import public_url
from config.zones import first_zone
from outreach.approval_links import decision_url, emails_off_url
from outreach.models import (
    Action,
    ActionStatus,
    ApprovalDigest,
    ApprovalNotice,
    ApprovalSlackNotice,
    Decision,
)
from outreach.previews import Preview, attach_reply_threads, preview_of, summary
from outreach.selectors import reviewer_memberships

logger = logging.getLogger(__name__)

TICK_LIMIT = 200  # reviewers handled per tick; the rest at the next tick
DIGEST_MAX_ACTIONS = 100
SEND_LEASE = dt.timedelta(minutes=2)  # a digest being sent; expired: sent again


def _window_start(now: dt.datetime) -> dt.datetime:
    return now - dt.timedelta(minutes=settings.APPROVAL_DIGEST_MINUTES)


def _unnotified(membership_ref: OuterRef | int, workspace_ref: OuterRef | int) -> QuerySet:
    """Pending actions of the workspace not yet notified to the membership."""
    notified = ApprovalNotice.objects.filter(membership_id=membership_ref, action_id=OuterRef("pk"))
    return Action.objects.filter(
        workspace_id=workspace_ref, status=ActionStatus.PENDING_APPROVAL
    ).exclude(Exists(notified))


def _due_membership_ids(now: dt.datetime, limit: int) -> list[int]:
    """Reviewers with something new to hear and no digest within the window: one query."""
    recent = ApprovalDigest.objects.filter(
        membership_id=OuterRef("pk"), created_at__gt=_window_start(now)
    )
    return list(
        reviewer_memberships()
        .filter(approval_emails=True)
        .exclude(user__email="")
        .filter(Exists(_unnotified(OuterRef(OuterRef("pk")), OuterRef("workspace_id"))))
        .exclude(Exists(recent))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def _digest_create(membership_id: int, now: dt.datetime) -> ApprovalDigest | None:
    """Record a digest and its notices for one reviewer, claimed for sending;
    None when there is nothing (left) to tell or the window is not over."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(pk=membership_id).first()
        if membership is None or not membership.approval_emails:
            return None
        if ApprovalDigest.objects.filter(
            membership=membership, created_at__gt=_window_start(now)
        ).exists():
            return None  # another tick just sent one
        action_ids = list(
            _unnotified(membership.pk, membership.workspace_id)
            .order_by("scheduled_time", "id")
            .values_list("pk", flat=True)[:DIGEST_MAX_ACTIONS]
        )
        if not action_ids:
            return None
        digest = ApprovalDigest.objects.create(
            workspace_id=membership.workspace_id,
            membership=membership,
            created_at=now,
            claimed_until=now + SEND_LEASE,
        )
        ApprovalNotice.objects.bulk_create(
            ApprovalNotice(
                workspace_id=membership.workspace_id,
                membership=membership,
                action_id=action_id,
                digest=digest,
            )
            for action_id in action_ids
        )
    return digest


@dataclass
class DigestItem:
    action: Action
    summary: str
    preview: Preview
    when: str
    approve_url: str
    reject_url: str
    admin_url: str


def _when(value: dt.datetime) -> str:
    """`2025-06-03 14:30 CEST` in the active zone."""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z")


def approval_digest_message(
    *, membership: Membership, actions: list[Action]
) -> EmailMultiAlternatives:
    """The email of one digest: each action as the admin previews it (from, to,
    subject, body or message, when, in the reviewer's time zone) with its
    one-click Approve and Reject links, and the opt-out link in the footer."""
    user = membership.user
    with timezone.override(first_zone(membership.effective_timezone, default=settings.TIME_ZONE)):
        items = []
        for action in actions:
            preview = preview_of(action)
            items.append(
                DigestItem(
                    action=action,
                    summary=summary(action),
                    preview=preview,
                    when=_when(preview.due) if preview.due else "",
                    approve_url=decision_url(
                        action=action, reviewer_id=user.pk, decision=Decision.APPROVE
                    ),
                    reject_url=decision_url(
                        action=action, reviewer_id=user.pk, decision=Decision.REJECT
                    ),
                    admin_url=public_url(
                        reverse("admin:outreach_pendingapproval_change", args=[action.pk])
                    ),
                )
            )
    count = len(items)
    context = {
        "workspace": membership.workspace,
        "items": items,
        "count": count,
        "link_hours": settings.APPROVAL_LINK_HOURS,
        "queue_url": public_url(reverse("admin:outreach_pendingapproval_changelist")),
        "emails_off_url": emails_off_url(membership),
    }
    subject = (
        f"[{membership.workspace.name}] {count} action{'s' if count != 1 else ''} "
        "awaiting your approval"
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("outreach/email/approval_digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
    )
    message.attach_alternative(
        render_to_string("outreach/email/approval_digest.html", context), "text/html"
    )
    return message


def _digest_send(digest_id: int) -> bool:
    """Send one claimed digest: the actions of it still pending. True when sent."""
    digest = ApprovalDigest.objects.select_related("membership__user", "membership__workspace").get(
        pk=digest_id
    )
    membership = digest.membership
    actions = list(
        Action.objects.filter(approval_notices__digest=digest, status=ActionStatus.PENDING_APPROVAL)
        .select_related("identity", "workspace")
        .order_by("scheduled_time", "id")
    )
    done = ApprovalDigest.objects.filter(pk=digest.pk)
    still_reviewer = reviewer_memberships().filter(pk=membership.pk).exists()
    if (
        not actions
        or not still_reviewer
        or not membership.approval_emails
        or not membership.user.email
    ):
        # Decided meanwhile, or the reviewer opted out or lost the right: nothing to send.
        done.update(sent_at=timezone.now(), claimed_until=None)
        return False
    attach_reply_threads(actions)
    message = approval_digest_message(membership=membership, actions=actions)
    try:
        message.send()
    except Exception as exc:  # any backend's failure: the lease lets a later tick retry
        logger.warning("approval digest %s to %s not sent: %s", digest.pk, message.to, exc)
        done.update(attempts=F("attempts") + 1, last_error=str(exc)[:1000])
        return False
    done.update(
        sent_at=timezone.now(), claimed_until=None, attempts=F("attempts") + 1, last_error=""
    )
    return True


def approval_digests_send(*, now: dt.datetime | None = None, limit: int = TICK_LIMIT) -> int:
    """The periodic task's work (`outreach.send_approval_digests`): send digests
    whose earlier send failed or was interrupted, then a new digest to every
    reviewer who is due one. Returns how many emails went out."""
    now = now or timezone.now()
    sent = 0
    # Unsent digests whose lease expired, while their links would still work.
    retry_ids = list(
        ApprovalDigest.objects.filter(
            sent_at__isnull=True,
            claimed_until__lt=now,
            created_at__gt=now - dt.timedelta(hours=settings.APPROVAL_LINK_HOURS),
        )
        .order_by("claimed_until")
        .values_list("pk", flat=True)[:limit]
    )
    for digest_id in retry_ids:
        claimed = ApprovalDigest.objects.filter(
            pk=digest_id, sent_at__isnull=True, claimed_until__lt=now
        ).update(claimed_until=now + SEND_LEASE)
        if claimed:
            sent += _digest_send(digest_id)
    for membership_id in _due_membership_ids(now, limit):
        digest = _digest_create(membership_id, now)
        if digest is not None:
            sent += _digest_send(digest.pk)
    return sent


# --- Slack-compatible webhook --------------------------------------------------------
# Decision: a channel post is read by everyone in the channel, and a one-click link
# names one reviewer, so a post carrying Rita's links would let anyone in the
# channel decide in Rita's name. Slack posts therefore link each action to its
# review page in the admin approval queue ("Review" buttons): whoever clicks logs
# in, and the admin checks their own right to decide and records them. The
# per-reviewer one-click links are the emails'. The post itself (outbound HTTP,
# SSRF-safe) is automations' (automations.tasks.post_approval_slack): outreach
# does not import automations.


@dataclass
class SlackBatch:
    workspace_id: int
    webhook_url: str
    notice_ids: list[int]
    payload: dict


def _slack_payload(workspace: Workspace, actions: list[Action]) -> dict:
    count = len(actions)
    text = (
        f"{count} action{'s' if count != 1 else ''} in {workspace.name} "
        f"await{'' if count != 1 else 's'} approval"
    )
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}]
    with timezone.override(first_zone(workspace.timezone, default=settings.TIME_ZONE)):
        for action in actions:
            preview = preview_of(action)
            lines = [f"*{preview.title}* `{action.public_id}`"]
            if preview.due:
                lines.append(f"When: {_when(preview.due)} {preview.due_note}".rstrip())
            lines += [f"{label}: {value}" for label, value in preview.headers]
            if preview.body:
                body = preview.body if len(preview.body) <= 500 else preview.body[:500] + "…"
                lines.append(f"{preview.body_label}: {body}")
            review = public_url(reverse("admin:outreach_pendingapproval_change", args=[action.pk]))
            blocks.append(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]},
                    "accessory": {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Review"},
                        "url": review,
                    },
                }
            )
    queue = public_url(reverse("admin:outreach_pendingapproval_changelist"))
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{queue}|Approval queue>"}]}
    )
    return {"text": f"{text}: {queue}", "blocks": blocks[:50]}


def approval_slack_claim(
    *, now: dt.datetime | None = None, limit: int = TICK_LIMIT
) -> list[SlackBatch]:
    """The posts due now, one per workspace with a webhook URL: its pending actions
    not yet posted (at most one post per APPROVAL_DIGEST_MINUTES), plus those whose
    earlier post failed or was interrupted (lease expired). Notices are written and
    claimed under the workspace's row lock before the post is made."""
    now = now or timezone.now()
    unposted = Action.objects.filter(
        workspace_id=OuterRef("pk"), status=ActionStatus.PENDING_APPROVAL
    ).exclude(Exists(ApprovalSlackNotice.objects.filter(action_id=OuterRef("pk"))))
    recent = ApprovalSlackNotice.objects.filter(
        workspace_id=OuterRef("pk"), created_at__gt=_window_start(now)
    )
    stale = ApprovalSlackNotice.objects.filter(
        workspace_id=OuterRef("pk"), posted_at__isnull=True, claimed_until__lt=now
    )
    due = (
        Workspace.objects.exclude(approval_slack_webhook_url="")
        .filter((Exists(unposted) & ~Exists(recent)) | Exists(stale))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    batches = []
    for workspace_id in list(due):
        with transaction.atomic():
            workspace = Workspace.objects.select_for_update().get(pk=workspace_id)
            if not workspace.approval_slack_webhook_url:
                continue
            retry = list(
                ApprovalSlackNotice.objects.filter(
                    workspace=workspace, posted_at__isnull=True, claimed_until__lt=now
                ).values_list("pk", flat=True)
            )
            ApprovalSlackNotice.objects.filter(pk__in=retry).update(claimed_until=now + SEND_LEASE)
            fresh: list[ApprovalSlackNotice] = []
            if not ApprovalSlackNotice.objects.filter(
                workspace=workspace, created_at__gt=_window_start(now)
            ).exists():
                new_ids = (
                    Action.objects.filter(workspace=workspace, status=ActionStatus.PENDING_APPROVAL)
                    .exclude(Exists(ApprovalSlackNotice.objects.filter(action_id=OuterRef("pk"))))
                    .order_by("scheduled_time", "id")
                    .values_list("pk", flat=True)[:DIGEST_MAX_ACTIONS]
                )
                fresh = ApprovalSlackNotice.objects.bulk_create(
                    ApprovalSlackNotice(
                        workspace=workspace,
                        action_id=action_id,
                        created_at=now,
                        claimed_until=now + SEND_LEASE,
                    )
                    for action_id in new_ids
                )
            # bulk_create sets the new rows' pks (RETURNING, PostgreSQL and SQLite).
            notice_ids = [*retry, *(notice.pk for notice in fresh)]
        actions = list(
            Action.objects.filter(
                approval_slack_notice__pk__in=notice_ids, status=ActionStatus.PENDING_APPROVAL
            )
            .select_related("identity", "workspace")
            .order_by("scheduled_time", "id")
        )
        if not actions:
            approval_slack_posted(notice_ids=notice_ids)  # decided meanwhile: nothing to post
            continue
        attach_reply_threads(actions)
        batches.append(
            SlackBatch(
                workspace_id=workspace.pk,
                webhook_url=workspace.approval_slack_webhook_url,
                notice_ids=notice_ids,
                payload=_slack_payload(workspace, actions),
            )
        )
    return batches


def approval_slack_posted(*, notice_ids: list[int]) -> None:
    ApprovalSlackNotice.objects.filter(pk__in=notice_ids).update(
        posted_at=timezone.now(), claimed_until=None, last_error=""
    )


def approval_slack_failed(*, notice_ids: list[int], error: str) -> None:
    """Leave them unposted: their lease expires and a later tick posts them again
    (while their actions still await approval)."""
    ApprovalSlackNotice.objects.filter(pk__in=notice_ids).update(last_error=error[:1000])
