"""Public pages of approval request emails (outreach/approval_links.py).

``/approvals/<token>``: one reviewer's one-click Approve or Reject link.

- GET/HEAD shows the action as the admin previews it, in the reviewer's time
  zone, and a form (an optional comment and one button). It never changes
  anything: mail scanners and link previewers fetch every URL in a message.
- POST (the page's form; CSRF-protected: the page carries Django's token) re-checks
  the link, the reviewer's rights (an active staff member of the workspace
  holding `outreach.approve_action`) and the action's state, then records the
  decision through `outreach.services.approval_link_decide` (`action_decide`
  with the reviewer as actor and the version the page showed, as the admin
  does). The link's nonce is spent in the same transaction.
- An action no longer pending shows who decided it and when (200 on a GET; 409
  on a POST). A used link: 410 with the same. Expired: 410. Forged, mangled or
  naming an action or reviewer that no longer exists: 400. A reviewer who lost
  the right: 403. None of them changes anything.
- No login: the signed link names its reviewer and is the credential, as an
  unsubscribe link is (see approval_links.py). The decision is recorded in the
  reviewer's name, `admin:<username>`, exactly like the admin's.

``/approvals/emails-off/<token>``: GET shows, POST (CSRF-protected) turns the
member's approval emails off.

Every answer carries the unsubscribe page's headers (no-store, noindex, a CSP
without external resources; the referrer policy is same-origin, see HEADERS):
the URL is a credential.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.services import membership_approval_emails_set
from config.exceptions import Conflict, InvalidTransition
from config.zones import first_zone
from contacts.views import SECURITY_HEADERS
from outreach.approval_links import (
    LinkExpired,
    LinkInvalid,
    decision_link_from_token,
    membership_from_emails_off_token,
)
from outreach.models import Action, ActionStatus, ApprovalDecision, ApprovalLinkUse, Decision
from outreach.previews import preview_of
from outreach.selectors import is_reviewer
from outreach.services import LinkUsed, NotAReviewer, approval_link_decide

ALLOWED_METHODS = ("GET", "HEAD", "POST")
VERBS = {Decision.APPROVE: "Approve", Decision.REJECT: "Reject"}
PAST = {Decision.APPROVE: "approved", Decision.REJECT: "rejected", Decision.EDIT: "edited"}


# `same-origin`, not the unsubscribe page's `no-referrer`: with no-referrer a
# browser sends `Origin: null` on the form's POST, which Django's CSRF check
# refuses. The URL (a credential) still never leaves this origin in a Referer.
HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "same-origin"}


def _secure(response: HttpResponse) -> HttpResponse:
    for name, value in HEADERS.items():
        response[name] = value
    return response


def _page(request, template: str, context: dict, status: int = 200, zone=None) -> HttpResponse:
    with timezone.override(zone or zoneinfo.ZoneInfo(settings.TIME_ZONE)):
        response = render(request, f"outreach/approvals/{template}", context, status=status)
    return _secure(response)


def _decided_context(action: Action) -> dict:
    """Who decided the action and when (its latest decision), or its status."""
    decision = ApprovalDecision.objects.filter(action=action).order_by("-created_at", "-id").first()
    return {
        "action": action,
        "decision": decision,
        "decided": PAST.get(decision.decision, decision.decision) if decision else "",
        "status": action.get_status_display(),
    }


def approval_link(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ALLOWED_METHODS:
        return _secure(HttpResponseNotAllowed(ALLOWED_METHODS))
    try:
        link = decision_link_from_token(token)
    except LinkExpired:
        return _page(request, "link_invalid.html", {"expired": True}, status=410)
    except LinkInvalid:
        return _page(request, "link_invalid.html", {}, status=400)
    action = (
        Action.objects.select_related("identity", "workspace").filter(pk=link.action_id).first()
    )
    reviewer = get_user_model().objects.filter(pk=link.reviewer_id).first()
    if action is None or reviewer is None:
        return _page(request, "link_invalid.html", {}, status=400)
    membership = is_reviewer(user=reviewer, workspace_id=action.workspace_id)
    zone = first_zone(
        membership.effective_timezone if membership else "", default=settings.TIME_ZONE
    )
    if membership is None:
        return _page(request, "not_allowed.html", {"action": action}, status=403, zone=zone)
    if ApprovalLinkUse.objects.filter(nonce=link.nonce).exists():
        return _page(request, "decided.html", {**_decided_context(action), "used": True}, 410, zone)
    if action.status != ActionStatus.PENDING_APPROVAL:
        status = 409 if request.method == "POST" else 200
        return _page(request, "decided.html", _decided_context(action), status, zone)

    context = {
        "action": action,
        "preview": preview_of(action),
        "decision": link.decision,
        "verb": VERBS[link.decision],
        "reviewer": reviewer,
        "version": action.updated_at.isoformat(),
        "workspace": action.workspace,
    }
    if request.method != "POST":
        return _page(request, "confirm.html", context, zone=zone)

    version = parse_datetime(request.POST.get("version", ""))
    comment = request.POST.get("comment", "")[:2000]
    try:
        decided = approval_link_decide(
            link=link,
            action=action,
            reviewer=reviewer,
            comment=comment,
            expected_updated_at=version if isinstance(version, dt.datetime) else None,
        )
    except NotAReviewer:
        return _page(request, "not_allowed.html", {"action": action}, status=403, zone=zone)
    except LinkUsed:
        action.refresh_from_db()
        return _page(request, "decided.html", {**_decided_context(action), "used": True}, 410, zone)
    except InvalidTransition:
        action.refresh_from_db()
        return _page(request, "decided.html", _decided_context(action), 409, zone)
    except Conflict:  # changed since the page was shown: show it again
        action.refresh_from_db()
        context.update(
            preview=preview_of(action),
            version=action.updated_at.isoformat(),
            changed=True,
        )
        return _page(request, "confirm.html", context, status=409, zone=zone)
    return _page(
        request,
        "done.html",
        {**_decided_context(decided), "just_decided": True},
        zone=zone,
    )


def approval_emails_off(request: HttpRequest, token: str) -> HttpResponse:
    if request.method not in ALLOWED_METHODS:
        return _secure(HttpResponseNotAllowed(ALLOWED_METHODS))
    membership = membership_from_emails_off_token(token)
    if membership is None:
        return _page(request, "link_invalid.html", {}, status=400)
    if request.method == "POST":
        membership = membership_approval_emails_set(membership=membership, enabled=False)
    context = {"membership": membership, "workspace": membership.workspace}
    template = "emails_on.html" if membership.approval_emails else "emails_off.html"
    return _page(request, template, context)
