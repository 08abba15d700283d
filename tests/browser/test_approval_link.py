"""An approval email's one-click link approves the action in a real browser.

The digest is sent to Django's locmem outbox; Chromium opens the emailed
Approve link (pointed at the live server), confirms, and the action is
scheduled with that reviewer's decision. Opening the link again shows it was
already decided, by whom.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from playwright.sync_api import expect

from outreach.approval_requests import approval_digests_send
from outreach.models import ActionStatus, ApprovalDecision
from tests.factories import make_staff_member

pytestmark = pytest.mark.browser


def test_emailed_link_approves_then_shows_already_decided(
    page, live_server, screenshot, workspace, make_action, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    approve = Permission.objects.get(content_type__app_label="outreach", codename="approve_action")
    reviewer = make_staff_member(workspace, "rita@example.org", [approve])
    action = make_action()
    assert approval_digests_send() == 1
    approve_url = re.search(r"Approve: (\S+)", mail.outbox[0].body).group(1)
    assert approve_url.startswith(live_server.url)

    page.goto(approve_url)
    expect(page.locator("#approval-question")).to_have_text("Approve this action?")
    expect(page.locator("[data-preview=to]")).to_have_text("contact@example.com")
    screenshot("confirmation")
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL  # opening the link changed nothing

    page.fill("#id_comment", "Looks good")
    page.click("#approval-confirm")
    expect(page.locator("#approval-outcome")).to_have_text("Approved")
    expect(page.locator("#approval-decided-by")).to_contain_text("admin:rita@example.org")
    screenshot("approved")
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    decision = ApprovalDecision.objects.get(action=action)
    assert (decision.decision, decision.reviewer, decision.comment) == (
        "approve",
        reviewer,
        "Looks good",
    )

    page.goto(approve_url)
    expect(page.locator("#approval-outcome")).to_have_text("Already decided")
    expect(page.locator("#approval-decided-by")).to_contain_text(
        "approved by admin:rita@example.org"
    )
    screenshot("already-decided")
    assert ApprovalDecision.objects.filter(action=action).count() == 1
