"""Approval request digests: who gets them, how they batch, what they show,
and that nothing is notified twice or missed (outreach/approval_requests.py)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Membership
from outreach.approval_requests import approval_digests_send
from outreach.models import ApprovalDigest, ApprovalNotice
from tests.factories import make_staff_member

URL = re.compile(r"https?://\S+/approvals/[^\s\"<]+")


@pytest.fixture
def approve_perm(db):
    return Permission.objects.get(content_type__app_label="outreach", codename="approve_action")


@pytest.fixture
def reviewer(workspace, approve_perm):
    return make_staff_member(workspace, "rita@example.org", [approve_perm])


def later(minutes):
    return timezone.now() + dt.timedelta(minutes=minutes)


def test_two_actions_one_email_and_a_third_waits_for_the_window(reviewer, make_action, settings):
    settings.APPROVAL_DIGEST_MINUTES = 5
    first, second = (
        make_action(),
        make_action(params={"to": "x@example.com", "subject": "Two", "body": "B2"}),
    )
    assert approval_digests_send() == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["rita@example.org"]
    assert "2 actions awaiting your approval" in message.subject
    assert first.public_id in message.body and second.public_id in message.body
    # The admin preview's lines: from, to, subject, body, when.
    assert "From: Acme Sales <sales@acme.example.com>" in message.body
    assert "To: x@example.com" in message.body and "Subject: Two" in message.body
    assert "When: " in message.body
    assert len(URL.findall(message.body)) == 2 * 2 + 1  # approve+reject each, opt-out
    html = message.alternatives[0][0]
    assert "Approve</a>" in html and "Reject</a>" in html

    third = make_action()
    assert approval_digests_send() == 0  # within the window: waits
    assert approval_digests_send(now=later(6)) == 1
    assert len(mail.outbox) == 2
    assert third.public_id in mail.outbox[1].body
    assert first.public_id not in mail.outbox[1].body  # nothing twice
    assert approval_digests_send(now=later(20)) == 0


def test_only_reviewers_of_the_workspace_get_it(
    workspace, other_workspace, owner, member, reviewer, approve_perm, make_action
):
    make_staff_member(other_workspace, "olga@example.net", [approve_perm])  # other workspace
    make_staff_member(workspace, "noperm@example.org", [])  # staff without the permission
    make_action()
    approval_digests_send()
    assert [m.to for m in mail.outbox] == [["rita@example.org"]]


def test_opt_out_stops_the_emails(reviewer, workspace, make_action):
    Membership.objects.filter(user=reviewer).update(approval_emails=False)
    make_action()
    assert approval_digests_send() == 0
    assert mail.outbox == []


def test_decided_before_the_digest_is_not_mentioned(reviewer, make_action):
    action = make_action()
    from outreach.models import Action, ActionStatus

    Action.objects.filter(pk=action.pk).update(status=ActionStatus.SCHEDULED)
    assert approval_digests_send() == 0


def test_a_failed_send_is_retried_after_its_lease(reviewer, make_action, settings, monkeypatch):
    action = make_action()
    settings.EMAIL_BACKEND = "tests.outreach.test_approval_requests.FailingBackend"
    assert approval_digests_send() == 0
    digest = ApprovalDigest.objects.get()
    assert digest.sent_at is None and digest.attempts == 1 and "down" in digest.last_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert approval_digests_send() == 0  # the lease has not expired yet
    assert approval_digests_send(now=later(3)) == 1
    assert action.public_id in mail.outbox[0].body
    assert ApprovalNotice.objects.count() == 1
    assert approval_digests_send(now=later(30)) == 0


def test_queries_do_not_grow_with_the_number_of_actions(reviewer, make_action, settings):
    settings.APPROVAL_DIGEST_MINUTES = 0
    make_action()
    with CaptureQueriesContext(connection) as one:
        approval_digests_send()
    for _ in range(6):
        make_action()
    with CaptureQueriesContext(connection) as seven:
        approval_digests_send()
    assert len(seven) == len(one)
    assert "7 actions" not in mail.outbox[1].subject and "6 actions" in mail.outbox[1].subject


def test_times_are_in_the_reviewers_zone(reviewer, make_action):
    Membership.objects.filter(user=reviewer).update(timezone="Europe/Berlin")
    make_action(scheduled_time=dt.datetime(2031, 7, 1, 12, 0, tzinfo=dt.UTC))
    approval_digests_send()
    assert "When: 2031-07-01 14:00 CEST" in mail.outbox[0].body


class FailingBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise OSError("mail server down")


def test_a_retry_is_not_sent_to_someone_who_lost_the_right(
    reviewer, approve_perm, make_action, settings
):
    make_action()
    settings.EMAIL_BACKEND = "tests.outreach.test_approval_requests.FailingBackend"
    approval_digests_send()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    reviewer.user_permissions.remove(approve_perm)
    assert approval_digests_send(now=later(3)) == 0
    assert mail.outbox == []
    assert ApprovalDigest.objects.get().sent_at is not None  # settled, not retried forever
