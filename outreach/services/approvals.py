"""Decisions made through the one-click links of approval request emails
(outreach/approval_links.py; the digests themselves: outreach/approval_requests.py)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from accounts.actors import Actor
from config.exceptions import Conflict, DomainError
from outreach.approval_links import DecisionLink
from outreach.models import Action, ApprovalLinkUse
from outreach.selectors import is_reviewer
from outreach.services.actions import action_decide


class NotAReviewer(DomainError):
    status_code = 403
    code = "forbidden"


class LinkUsed(Conflict):
    code = "link_used"


def approval_link_decide(
    *,
    link: DecisionLink,
    action: Action,
    reviewer: AbstractBaseUser,
    comment: str = "",
    expected_updated_at: dt.datetime | None = None,
) -> Action:
    """Record a one-click link's decision with its reviewer, exactly as the admin
    does (`action_decide` with the reviewer as actor, the version the reviewer
    saw), after re-checking the reviewer may still decide this workspace's
    actions. The link's nonce is written in the same transaction: a link
    decides at most once (LinkUsed, 409); an action already decided is
    InvalidTransition (409); a reviewer without the right is NotAReviewer (403).
    On any error nothing is written."""
    if link.action_id != action.pk or link.reviewer_id != reviewer.pk:
        raise DomainError("This link is for another action or reviewer.")
    if is_reviewer(user=reviewer, workspace_id=action.workspace_id) is None:
        raise NotAReviewer(
            "You may no longer approve or reject this workspace's actions.", code="forbidden"
        )
    try:
        with transaction.atomic():
            ApprovalLinkUse.objects.create(
                workspace_id=action.workspace_id,
                nonce=link.nonce,
                action=action,
                reviewer=reviewer,
                decision=link.decision,
            )
            return action_decide(
                action=action,
                actor=Actor.for_user(reviewer),
                decision=link.decision,
                comment=comment,
                expected_updated_at=expected_updated_at,
            )
    except IntegrityError:
        raise LinkUsed("This link was already used.") from None
