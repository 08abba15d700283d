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
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from outreach.approval_links import decision_url, emails_off_url
from outreach.models import Action, ActionStatus, ApprovalDigest, ApprovalNotice, Decision
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


def _absolute(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def approval_digest_message(
    *, membership: Membership, actions: list[Action]
) -> EmailMultiAlternatives:
    """The email of one digest: each action as the admin previews it (from, to,
    subject, body or message, when, in the reviewer's time zone) with its
    one-click Approve and Reject links, and the opt-out link in the footer."""
    user = membership.user
    try:
        zone = zoneinfo.ZoneInfo(membership.effective_timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    with timezone.override(zone):
        items = []
        for action in actions:
            preview = preview_of(action)
            local = timezone.localtime(preview.due) if preview.due else None
            items.append(
                DigestItem(
                    action=action,
                    summary=summary(action),
                    preview=preview,
                    when=local.strftime("%Y-%m-%d %H:%M %Z") if local else "",
                    approve_url=decision_url(
                        action=action, reviewer_id=user.pk, decision=Decision.APPROVE
                    ),
                    reject_url=decision_url(
                        action=action, reviewer_id=user.pk, decision=Decision.REJECT
                    ),
                    admin_url=_absolute(
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
        "queue_url": _absolute(reverse("admin:outreach_pendingapproval_changelist")),
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
    if not actions or not membership.approval_emails or not membership.user.email:
        # Decided meanwhile, or the reviewer opted out: nothing to send.
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
