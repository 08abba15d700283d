"""The admin index's dashboard in a real browser: the charts load from the
project's own static files and JSON endpoints, draw SVG bars for seeded actions,
and the 7 days button redraws them for the longer range."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from outreach.models import ActionStatus, ApprovalDecision, FailureCode, Identity
from tests.factories import make_action_row, make_staff_member

pytestmark = pytest.mark.browser

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def reviewer(workspace):
    approve = Permission.objects.get(content_type__app_label="outreach", codename="approve_action")
    return make_staff_member(workspace, "rita@example.org", [approve])


@pytest.fixture
def seeded(workspace):
    """Completed and failed actions of two types in the last hours, one failure two
    days ago (7 days only), two actions awaiting approval and three decisions."""
    email = Identity.objects.create(workspace=workspace, channel="email", address="a@acme.test")
    sms = Identity.objects.create(workspace=workspace, channel="sms", address="+14155550100")
    now = timezone.now()

    def row(identity, status, hours_ago, **fields):
        when = now - hours_ago * HOUR
        return make_action_row(
            workspace, identity, status=status, created_at=when - HOUR, updated_at=when, **fields
        )

    for hours in (1, 1, 2, 5):
        row(email, ActionStatus.COMPLETED, hours)
    row(sms, ActionStatus.COMPLETED, 3, type="send_sms")
    row(sms, ActionStatus.FAILED, 2, type="send_sms", failure_code=FailureCode.SUPPRESSED)
    row(email, ActionStatus.FAILED, 48, failure_code=FailureCode.GAVE_UP)  # 7 days only
    oldest = make_action_row(
        workspace,
        email,
        status=ActionStatus.PENDING_APPROVAL,
        require_approval=True,
        created_at=now - 6 * HOUR,
    )
    make_action_row(
        workspace,
        email,
        status=ActionStatus.PENDING_APPROVAL,
        require_approval=True,
        created_at=now - HOUR,
    )
    for label, decision in (
        ("admin:rita", "approve"),
        ("admin:rita", "reject"),
        ("admin:sam", "edit"),
    ):
        action = make_action_row(workspace, email, created_at=now - 2 * HOUR)
        made = ApprovalDecision.objects.create(
            workspace=workspace, action=action, decision=decision, reviewer_label=label
        )
        ApprovalDecision.objects.filter(pk=made.pk).update(created_at=now - HOUR)
    return {"oldest": oldest}


def test_dashboard_draws_the_charts_and_switches_to_7_days(
    page, log_in, live_server, reviewer, seeded, screenshot
):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    log_in(reviewer, next="/admin/")

    dashboard = page.locator("#outreach-dashboard")
    for chart in ("activity", "queue", "oldest", "reviewers", "failures"):
        expect(page.locator(f"#dash-{chart}")).to_have_attribute("data-state", "ready")
    expect(dashboard).to_have_attribute("data-range", "24h")

    # (a) completed bars upwards for both types, the SMS failure downwards.
    activity = page.locator("#dash-activity")
    expect(activity.locator("svg[role=img]")).to_have_attribute(
        "aria-label",
        "Actions completed and failed per hour, the last 24 hours: 5 completed, 1 failed.",
    )
    assert activity.locator("rect.dash-bar[data-status=completed]").count() == 4  # 3 hours + sms
    assert activity.locator("rect.dash-bar[data-status=failed]").count() == 1
    expect(activity.locator("table")).to_contain_text("Send email")
    expect(activity.locator("table")).to_contain_text("Send SMS")

    # (b) the queue: two waiting, three decided.
    queue = page.locator("#dash-queue")
    expect(queue.locator("[data-stat=depth]")).to_have_text("2")
    expect(queue.locator("[data-stat=decided]")).to_have_text("3")
    expect(queue.locator("[data-stat=median]")).to_have_text("1 h 0 min")

    # (c) two reviewers, rita's bar split approved / rejected.
    reviewers = page.locator("#dash-reviewers")
    assert reviewers.locator("rect.dash-approved").count() == 2
    assert reviewers.locator("rect.dash-rejected").count() == 1
    expect(reviewers.locator("table")).to_contain_text("admin:rita")

    # (d) the oldest waiting action links to its review page.
    link = page.locator("#dash-oldest-link")
    expect(link).to_have_text(seeded["oldest"].public_id)
    expect(link).to_have_attribute(
        "href", f"/admin/outreach/pendingapproval/{seeded['oldest'].pk}/change/"
    )

    # (e) one failure reason in the last 24 hours.
    failures = page.locator("#dash-failures")
    assert failures.locator("rect.dash-bar").count() == 1
    expect(failures.locator("table")).to_contain_text("suppressed")
    screenshot("24h")

    # One request per chart, and nothing from outside the live server.
    assert sum(".json?range=24h" in u for u in requests) == 5
    assert all(u.startswith(live_server.url) for u in requests)

    page.click("button[data-range-button='7d']")
    expect(dashboard).to_have_attribute("data-range", "7d")
    expect(page.locator("button[data-range-button='7d']")).to_have_attribute("aria-pressed", "true")
    for chart in ("activity", "queue", "oldest", "reviewers", "failures"):
        expect(page.locator(f"#dash-{chart}")).to_have_attribute("data-range", "7d")
        expect(page.locator(f"#dash-{chart}")).to_have_attribute("data-state", "ready")
    expect(activity.locator("svg[role=img]")).to_have_attribute(
        "aria-label",
        "Actions completed and failed per hour, the last 7 days: 5 completed, 2 failed.",
    )
    assert activity.locator("rect.dash-bar[data-status=failed]").count() == 2
    assert failures.locator("rect.dash-bar").count() == 2
    expect(failures.locator("table")).to_contain_text("gave_up")
    assert sum(".json?range=7d" in u for u in requests) == 5
    screenshot("7d")
