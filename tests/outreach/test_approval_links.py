"""One-click links of approval request emails (outreach/views.py)."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import Permission
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from outreach.approval_links import DECISION_SALT, decision_token, emails_off_token
from outreach.approval_requests import approval_digests_send
from outreach.models import ActionStatus, ApprovalDecision, ApprovalLinkUse
from tests.factories import make_staff_member


@pytest.fixture
def approve_perm(db):
    return Permission.objects.get(content_type__app_label="outreach", codename="approve_action")


@pytest.fixture
def reviewer(workspace, approve_perm):
    return make_staff_member(workspace, "rita@example.org", [approve_perm])


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def link(action, user, decision="approve"):
    return reverse(
        "approval_link",
        kwargs={"token": decision_token(action=action, reviewer_id=user.pk, decision=decision)},
    )


def confirm(client, url, comment=""):
    page = client.get(url)
    assert page.status_code == 200
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    version = re.search(r'name="version" value="([^"]+)"', page.text).group(1)
    return client.post(url, {"csrfmiddlewaretoken": token, "version": version, "comment": comment})


def test_emailed_approve_link_approves_with_that_reviewer(reviewer, make_action, csrf_client):
    action = make_action()
    approval_digests_send()
    approve_url = re.search(r"Approve: (\S+)", mail.outbox[0].body).group(1)
    path = approve_url.split("://", 1)[1].split("/", 1)[1]
    page = csrf_client.get(f"/{path}")
    assert page.status_code == 200
    assert "Approve this action?" in page.text and "sales@acme.example.com" in page.text
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL  # a GET changes nothing
    done = confirm(csrf_client, f"/{path}", comment="fine by me")
    assert done.status_code == 200 and "approved by" in done.text
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    decision = ApprovalDecision.objects.get(action=action)
    assert decision.reviewer == reviewer and decision.reviewer_label == "admin:rita@example.org"
    assert decision.decision == "approve" and decision.comment == "fine by me"
    again = csrf_client.get(f"/{path}")
    assert again.status_code == 410
    assert "admin:rita@example.org" in again.text and "already used" in again.text


def test_reject_link(reviewer, make_action, csrf_client):
    action = make_action()
    assert confirm(csrf_client, link(action, reviewer, "reject")).status_code == 200
    action.refresh_from_db()
    assert action.status == ActionStatus.REJECTED


def test_post_without_csrf_is_refused(reviewer, make_action, csrf_client):
    action = make_action()
    assert csrf_client.post(link(action, reviewer)).status_code == 403
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_single_use_even_for_a_replayed_post(reviewer, make_action, client):
    action = make_action()
    url = link(action, reviewer)
    assert client.post(url).status_code == 200
    assert client.post(url).status_code == 410
    assert ApprovalDecision.objects.filter(action=action).count() == 1
    assert ApprovalLinkUse.objects.count() == 1


def test_expired_link(reviewer, make_action, client, settings):
    action = make_action()
    settings.APPROVAL_LINK_HOURS = 1
    signer = signing.TimestampSigner(salt=DECISION_SALT)
    signer.timestamp = lambda: signing.b62_encode(int(time.time()) - 7200)  # two hours ago
    token = signer.sign_object({"a": action.pk, "u": reviewer.pk, "d": "approve", "n": "abc"})
    url = reverse("approval_link", kwargs={"token": token})
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 410 and "expired" in response.text
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


@pytest.mark.parametrize("token", ["nope", "a" * 500, "eyJhIjoxfQ:1abc:forged"])
def test_forged_link(token, reviewer, make_action, client):
    action = make_action()
    response = client.post(reverse("approval_link", kwargs={"token": token}))
    assert response.status_code == 400 and "not valid" in response.text
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_tampered_payload_is_refused(reviewer, make_action, client):
    action = make_action()
    token = decision_token(action=action, reviewer_id=reviewer.pk, decision="approve")
    _, rest = token.split(":", 1)
    other = signing.dumps({"a": action.pk, "u": 999, "d": "approve", "n": "x"}, salt="x")
    forged = f"{other.split(':', 1)[0]}:{rest}"
    assert client.post(reverse("approval_link", kwargs={"token": forged})).status_code == 400


def test_permission_revoked_is_refused(reviewer, approve_perm, make_action, client):
    action = make_action()
    url = link(action, reviewer)
    reviewer.user_permissions.remove(approve_perm)
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_no_longer_a_member_is_refused(reviewer, make_action, client):
    action = make_action()
    url = link(action, reviewer)
    Membership.objects.filter(user=reviewer).delete()
    assert client.post(url).status_code == 403


def test_cross_workspace_reviewer_cannot_decide(other_workspace, approve_perm, make_action, client):
    action = make_action()  # in "Acme"
    stranger = make_staff_member(other_workspace, "olga@example.net", [approve_perm])
    assert client.post(link(action, stranger)).status_code == 403
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_already_decided_names_the_decider(reviewer, owner, make_action, client):
    from accounts.actors import Actor
    from outreach.services import action_decide

    action = make_action()
    url = link(action, reviewer)
    action_decide(action=action, actor=Actor.for_user(owner), decision="reject")
    page = client.get(url)
    assert page.status_code == 200
    assert "rejected by" in page.text and "admin:alice@example.org" in page.text
    assert client.post(url).status_code == 409


def test_changed_since_the_page_was_shown(reviewer, make_action, csrf_client):
    from outreach.models import Action

    action = make_action()
    url = link(action, reviewer)
    page = csrf_client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    version = re.search(r'name="version" value="([^"]+)"', page.text).group(1)
    Action.objects.filter(pk=action.pk).update(
        params={**action.params, "subject": "Changed"}, updated_at=timezone.now()
    )
    response = csrf_client.post(url, {"csrfmiddlewaretoken": token, "version": version})
    assert response.status_code == 409 and "changed since" in response.text
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_opt_out_link(reviewer, workspace, csrf_client):
    membership = Membership.objects.get(user=reviewer)
    url = reverse("approval_emails_off", kwargs={"token": emails_off_token(membership)})
    page = csrf_client.get(url)
    assert page.status_code == 200 and "Stop approval request emails?" in page.text
    membership.refresh_from_db()
    assert membership.approval_emails  # a GET changes nothing
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = csrf_client.post(url, {"csrfmiddlewaretoken": token})
    assert done.status_code == 200 and "are off" in done.text
    membership.refresh_from_db()
    assert not membership.approval_emails
    assert csrf_client.get(url + "x").status_code == 400


def test_pending_per_reviewer_on_the_queue(reviewer, make_action, client):
    make_action()
    make_action()
    approval_digests_send()
    client.force_login(reviewer)
    page = client.get(reverse("admin:outreach_pendingapproval_changelist"))
    assert page.status_code == 200
    box = page.text.split('id="pending-per-reviewer"', 1)[1]
    assert "rita@example.org" in box and '<td class="notified-pending">2</td>' in box
