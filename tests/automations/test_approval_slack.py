"""Approval requests posted to a workspace's Slack-compatible incoming webhook
(automations.tasks.post_approval_slack, outreach/approval_requests.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from automations.tasks import post_approval_slack
from outreach.approval_requests import approval_slack_claim
from outreach.models import ApprovalSlackNotice

pytestmark = pytest.mark.usefixtures("allow_loopback")


@pytest.fixture
def hook(server, workspace):
    server.routes["/hook"] = lambda record: (200, {"Content-Type": "text/plain"}, b"ok")
    workspace.approval_slack_webhook_url = server.url("/hook")
    workspace.save()
    return server


def test_new_pending_actions_are_posted_once_with_review_links(hook, make_action, workspace):
    first, second = make_action(), make_action()
    assert post_approval_slack() == 1
    (request,) = hook.requests
    payload = json.loads(request["body"])
    assert payload["text"].startswith("2 actions in Acme await approval")
    text = json.dumps(payload["blocks"])
    assert first.public_id in text and second.public_id in text
    assert f"/admin/outreach/pendingapproval/{first.pk}/change/" in text
    assert "/approvals/" not in text  # no one-click links naming a reviewer in a channel
    assert post_approval_slack() == 0  # nothing new
    # Stored encrypted: the column does not hold the URL in clear.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT approval_slack_webhook_url FROM accounts_workspace WHERE id = %s",
            [workspace.pk],
        )
        assert "/hook" not in cursor.fetchone()[0]


def test_a_failed_post_is_retried_after_its_lease(server, workspace, make_action):
    answers = iter([500, 200])
    server.routes["/hook"] = lambda record: (next(answers), {}, b"")
    workspace.approval_slack_webhook_url = server.url("/hook")
    workspace.save()
    action = make_action()
    assert post_approval_slack() == 0
    notice = ApprovalSlackNotice.objects.get()
    assert notice.posted_at is None and notice.last_error == "HTTP 500"
    assert approval_slack_claim() == []  # leased: not yet
    later = timezone.now() + dt.timedelta(minutes=3)
    (batch,) = approval_slack_claim(now=later)
    assert batch.notice_ids == [notice.pk] and action.public_id in json.dumps(batch.payload)


def test_no_webhook_no_post(workspace, make_action, server):
    make_action()
    assert post_approval_slack() == 0
    assert ApprovalSlackNotice.objects.count() == 0


def test_the_admin_never_shows_the_url_and_keeps_it_when_left_blank(hook, workspace, client):
    admin_user = User.objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(admin_user)
    url = f"/admin/accounts/workspace/{workspace.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and hook.url("/hook") not in page.text
    form = {
        "name": "Acme",
        "timezone": workspace.timezone,
        "new_approval_slack_webhook_url": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    assert client.post(url, form).status_code == 302
    workspace.refresh_from_db()
    assert workspace.approval_slack_webhook_url == hook.url("/hook")
    client.post(url, {**form, "clear_approval_slack_webhook_url": "on"})
    workspace.refresh_from_db()
    assert workspace.approval_slack_webhook_url == ""
    client.post(url, {**form, "new_approval_slack_webhook_url": "https://hooks.example.com/T/B/x"})
    workspace.refresh_from_db()
    assert workspace.approval_slack_webhook_url == "https://hooks.example.com/T/B/x"
