"""A reviewer works through the approval queue in a real browser.

Logs in through the login form, approves one action, edits and approves
another (each decision opens the next item), rejects a third with a comment
and bulk-approves two more, then checks the database. Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from accounts.actors import Actor
from outreach import services
from outreach.models import ActionStatus, ApprovalDecision
from tests.factories import make_staff_member

pytestmark = pytest.mark.browser


@pytest.fixture
def reviewer(workspace):
    approve = Permission.objects.get(content_type__app_label="outreach", codename="approve_action")
    return make_staff_member(workspace, "rita@example.org", [approve])


@pytest.fixture
def queue(workspace, owner, other_workspace, outsider):
    """Five actions awaiting approval in the reviewer's workspace, one elsewhere."""
    actor = Actor.for_user(owner)
    email = services.identity_create(
        workspace=workspace, channel="email", address="sales@acme.example.com", display_name="Acme"
    )
    sms = services.identity_create(workspace=workspace, channel="sms", address="+14155550100")
    linkedin = services.identity_create(
        workspace=workspace, channel="linkedin", address="https://www.linkedin.com/in/acme-sales"
    )
    now = timezone.now()

    def propose(hours, type, params, identity, ws=workspace, by=actor):
        return services.action_create(
            workspace=ws,
            actor=by,
            type=type,
            params=params,
            identity=identity,
            scheduled_time=now + dt.timedelta(hours=hours),
            require_approval=True,
        )

    body = "Hi Dana,\n\nShall we talk on Tuesday?\n\nBest,\nAcme"
    globex = services.identity_create(
        workspace=other_workspace, channel="email", address="ops@globex.example.com"
    )
    return {
        "approve": propose(
            1, "send_email", {"to": "dana@example.com", "subject": "Intro", "body": body}, email
        ),
        "edit": propose(
            2,
            "send_email",
            {"to": "erin@example.com", "subject": "Pricing", "body": "Hi Erin,\nOur prices."},
            email,
        ),
        "reject": propose(
            3, "send_sms", {"recipient_phone": "+14155550123", "message": "See you at 3"}, sms
        ),
        "bulk_1": propose(
            4,
            "linkedin_message",
            {"profile_url": "https://www.linkedin.com/in/fay-example", "message": "Hi Fay"},
            linkedin,
        ),
        "bulk_2": propose(
            5, "send_email", {"to": "gus@example.com", "subject": "Hi Gus", "body": "Hello"}, email
        ),
        "elsewhere": propose(
            0.5,
            "send_email",
            {"to": "x@example.com", "subject": "Not yours", "body": "Hi"},
            globex,
            ws=other_workspace,
            by=Actor.for_user(outsider),
        ),
    }


def review_url(action) -> re.Pattern:
    return re.compile(rf"/admin/outreach/pendingapproval/{action.pk}/change/$")


def test_a_reviewer_works_through_the_queue(reviewer, queue, live_server, page, screenshot, log_in):
    base = live_server.url
    ids = {name: action.public_id for name, action in queue.items()}
    success = page.locator(".messagelist .success")

    # Log in through the real login form.
    log_in(reviewer)
    expect(page.locator("#approval-queue-count")).to_have_text("5")
    screenshot("index")

    # The queue, oldest due first; the other workspace's action is not there.
    page.click("#approval-queue-summary a")
    expect(page).to_have_url(re.compile(r"/admin/outreach/pendingapproval/$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(5)
    order = ["approve", "edit", "reject", "bulk_1", "bulk_2"]
    for index, name in enumerate(order):
        expect(rows.nth(index)).to_contain_text(ids[name])
    expect(page.locator("#result_list")).not_to_contain_text(ids["elsewhere"])
    screenshot("queue")

    # 1. Approve: the preview shows the email as it will be sent.
    page.get_by_role("link", name=ids["approve"]).click()
    preview = page.locator("#action-preview")
    expect(preview.locator('[data-preview="subject"]')).to_have_text("Intro")
    expect(preview.locator('[data-preview="to"]')).to_have_text("dana@example.com")
    expect(preview.locator('[data-preview="body"]')).to_have_text(
        "Hi Dana,\n\nShall we talk on Tuesday?\n\nBest,\nAcme"
    )
    screenshot("review-email")
    page.fill("#id_comment", "Looks good")
    page.click("#approve-button")
    expect(success).to_contain_text(f"Approved {ids['approve']}")

    # 2. The next item opens after a decision: edit its subject, then approve.
    expect(page).to_have_url(review_url(queue["edit"]))
    page.fill("#id_param_subject", "Pricing for Erin's team")
    page.fill("#id_comment", "Sharper subject")
    screenshot("edit")
    page.click("#edit-button")
    expect(success).to_contain_text(f"Edited and approved {ids['edit']}")

    # 3. Reject the SMS, which opens next, with a comment.
    expect(page).to_have_url(review_url(queue["reject"]))
    expect(page.locator('#action-preview [data-preview="body"]')).to_have_text("See you at 3")
    page.fill("#id_comment", "Wrong number, do not text")
    screenshot("review-sms")
    page.click("#reject-button")
    expect(success).to_contain_text(f"Rejected {ids['reject']}")
    expect(page).to_have_url(review_url(queue["bulk_1"]))
    page.goto(f"{base}/admin/outreach/pendingapproval/")
    expect(rows).to_have_count(2)

    # 4. Bulk-approve the last two through the changelist action and its confirmation page.
    for name in ("bulk_1", "bulk_2"):
        page.check(f'input.action-select[value="{queue[name].pk}"]')
    page.select_option('select[name="action"]', "approve_selected")
    page.click('button[name="index"]')
    expect(page.locator("#content")).to_contain_text("approve these 2 actions")
    page.fill("#id_comment", "Batch OK")
    screenshot("bulk-confirmation")
    page.click("#confirm-bulk-decision")
    expect(success).to_contain_text("Approved 2 actions")
    expect(page.locator("#result_list")).to_have_count(0)  # the queue is empty
    screenshot("queue-empty")

    page.goto(f"{base}/admin/")
    expect(page.locator("#approval-queue-count")).to_have_text("0")
    screenshot("index-after")

    # The database agrees.
    for action in queue.values():
        action.refresh_from_db()
    statuses = {name: action.status for name, action in queue.items()}
    assert statuses == {
        "approve": ActionStatus.SCHEDULED,
        "edit": ActionStatus.SCHEDULED,
        "reject": ActionStatus.REJECTED,
        "bulk_1": ActionStatus.SCHEDULED,
        "bulk_2": ActionStatus.SCHEDULED,
        "elsewhere": ActionStatus.PENDING_APPROVAL,
    }
    decisions = {
        d.action_id: d for d in ApprovalDecision.objects.filter(reviewer=reviewer).order_by("id")
    }
    assert len(decisions) == 5
    label = "admin:rita@example.org"

    approved = decisions[queue["approve"].pk]
    assert (approved.decision, approved.comment, approved.reviewer_label) == (
        "approve",
        "Looks good",
        label,
    )
    assert approved.params_before == approved.params_after

    edited = decisions[queue["edit"].pk]
    assert (edited.decision, edited.comment) == ("edit", "Sharper subject")
    assert edited.params_before["subject"] == "Pricing"
    assert edited.params_after == {
        "to": "erin@example.com",
        "subject": "Pricing for Erin's team",
        "body": "Hi Erin,\nOur prices.",
    }
    assert queue["edit"].params == edited.params_after
    assert edited.scheduled_time_after == edited.scheduled_time_before  # due time untouched

    rejected = decisions[queue["reject"].pk]
    assert (rejected.decision, rejected.comment) == ("reject", "Wrong number, do not text")

    for name in ("bulk_1", "bulk_2"):
        bulk = decisions[queue[name].pk]
        assert (bulk.decision, bulk.comment, bulk.reviewer_label) == ("approve", "Batch OK", label)
