"""A reviewer walks the approval queue by keyboard in a real browser.

Four actions await approval: an email, a reply an automation drafted into a
thread (params `thread_id` and `body` only), an SMS and a LinkedIn message.
The reviewer opens the first from the queue, then only uses keys: `a`
approves and the next item opens, `j` skips, `r` then a reason and Enter
rejects, `k` goes back. Every preview must say who it reaches, what it says
and when it goes out, in the reviewer's time zone with UTC on hover. A second
test checks that the queue fits a 1440 px window. Screenshots land in
artifacts/screenshots/.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from playwright.sync_api import expect

from accounts.actors import Actor
from accounts.models import Role
from contacts.models import Contact, Conversation, Direction, Message
from outreach import services
from outreach.models import Action, ActionStatus, ApprovalDecision
from tests.factories import MembershipFactory, make_staff_member

pytestmark = pytest.mark.browser

REVIEWER_ZONE = "America/New_York"  # the reviewer's own; the workspace is in Amsterdam
QUEUE = "/admin/outreach/pendingapproval/"


def shown_when(value: dt.datetime, zone: str = REVIEWER_ZONE) -> str:
    """What the page must show for `value`: `2025-01-07 09:30 EST (UTC-05:00)`."""
    local = value.astimezone(ZoneInfo(zone))
    minutes = int(local.utcoffset().total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    offset = f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({offset})"


def utc_when(value: dt.datetime) -> str:
    return f"{value.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


@pytest.fixture
def reviewer(workspace):
    approve = Permission.objects.get(content_type__app_label="outreach", codename="approve_action")
    return make_staff_member(workspace, "rita@example.org", [approve], timezone=REVIEWER_ZONE)


@pytest.fixture
def thread(workspace):
    """An email thread with Dana, whose subject the drafted reply answers."""
    dana = Contact.objects.create(
        workspace=workspace, email="dana@example.com", firstname="Dana", lastname="Example"
    )
    conversation = Conversation.objects.create(
        workspace=workspace, contact=dana, channel="email", subject="Pricing question"
    )
    Message.objects.create(
        workspace=workspace,
        conversation=conversation,
        direction=Direction.INBOUND,
        from_address="dana@example.com",
        to_address="sales@acme.example.com",
        subject="Pricing question",
        body="How much is the team plan?",
        sent_at=timezone.now() - dt.timedelta(hours=2),
    )
    return conversation


@pytest.fixture
def queue(workspace, owner, identities, thread):
    actor = Actor.for_user(owner)
    now = timezone.now().replace(second=0, microsecond=0)

    def propose(hours: float, type: str, params: dict, identity) -> Action:
        return services.action_create(
            workspace=workspace,
            actor=actor,
            type=type,
            params=params,
            identity=identity,
            scheduled_time=now + dt.timedelta(hours=hours),
            require_approval=True,
        )

    return {
        "email": propose(
            1,
            "send_email",
            {"to": "erin@example.com", "subject": "Intro", "body": "Hi Erin,\nShall we talk?"},
            identities["email"],
        ),
        # What an automation's Reply step drafts: no recipient, no subject.
        "reply": propose(
            2,
            "email_message",
            {"thread_id": thread.public_id, "body": "Hi Dana,\nThe team plan is $20."},
            identities["email"],
        ),
        "sms": propose(
            3,
            "send_sms",
            {"recipient_phone": "+14155550123", "message": "See you at 3"},
            identities["sms"],
        ),
        "linkedin": propose(
            4,
            "linkedin_message",
            {"profile_url": "https://www.linkedin.com/in/fay-example", "message": "Hi Fay"},
            identities["linkedin"],
        ),
    }


def review_url(action: Action) -> re.Pattern:
    return re.compile(rf"{QUEUE}{action.pk}/change/(\?.*)?$")


def arrive(page, action: Action) -> None:
    """On `action`'s review page with its shortcuts live (a key pressed while the
    next page loads would be lost)."""
    expect(page).to_have_url(review_url(action))
    expect(page.locator('#approval-review[data-keys="on"]')).to_have_count(1)


def check_preview(page, action: Action, *, to: str, subject: str = "", text: str = "") -> None:
    """The review page of `action`: recipient, subject or message, and when with its zone."""
    arrive(page, action)
    preview = page.locator("#action-preview")
    expect(preview.locator('[data-preview="to"]')).to_have_text(to)
    if subject:
        expect(preview.locator('[data-preview="subject"]')).to_have_text(subject)
    if text:
        expect(preview.locator('[data-preview="body"]')).to_have_text(text)
    when = preview.locator('[data-preview="when"] time')
    expect(when).to_have_text(shown_when(action.scheduled_time))
    expect(when).to_have_attribute("title", utc_when(action.scheduled_time))
    expect(page.locator("#review-keys")).to_be_visible()


def test_a_reviewer_walks_the_queue_by_keyboard(
    reviewer, queue, live_server, page, screenshot, log_in
):
    ids = {name: action.public_id for name, action in queue.items()}
    success = page.locator(".messagelist .success")
    log_in(reviewer, next=QUEUE)
    expect(page).to_have_url(re.compile(f"{QUEUE}$"))

    # The queue shows the drafted reply's recipient and subject, and times in
    # the reviewer's zone.
    reply_row = page.locator("#result_list tbody tr", has_text=ids["reply"])
    expect(reply_row.locator(".field-recipient_and_sender .recipient")).to_have_text(
        "dana@example.com"
    )
    expect(reply_row.locator("td.field-headline")).to_have_text("Re: Pricing question")
    expect(reply_row.locator(".field-due time")).to_have_text(
        shown_when(queue["reply"].scheduled_time)
    )
    screenshot("queue")
    page.get_by_role("link", name=ids["email"]).click()

    # 1. The email: `a` approves it and the next item, the drafted reply, opens.
    check_preview(page, queue["email"], to="erin@example.com", subject="Intro")
    expect(page.locator("#queue-position")).to_have_text("1 of 4 awaiting approval")
    screenshot("email")
    page.keyboard.press("a")
    expect(success).to_contain_text(f"Approved {ids['email']}")

    # 2. The drafted reply names its recipient and the real subject; `j` skips it.
    check_preview(
        page,
        queue["reply"],
        to="dana@example.com",
        subject="Re: Pricing question",
        text="Hi Dana,\nThe team plan is $20.",
    )
    expect(page.locator("#action-preview")).not_to_contain_text("(the thread's subject)")
    # The edit field shows the same time, in the same format and zone, and says which.
    due = page.locator("#id_scheduled_time")
    local = queue["reply"].scheduled_time.astimezone(ZoneInfo(REVIEWER_ZONE))
    expect(due).to_have_value(f"{local:%Y-%m-%d %H:%M}")
    expect(page.locator("#when-zone")).to_have_text(
        shown_when(queue["reply"].scheduled_time).split(" ", 2)[2]
    )
    expect(page.locator(".field-scheduled_time .help")).to_contain_text(REVIEWER_ZONE)
    screenshot("drafted-reply")
    page.keyboard.press("j")

    # 3. The SMS: typing in the comment is not a shortcut; `r`, a reason, Enter rejects.
    check_preview(page, queue["sms"], to="+14155550123", text="See you at 3")
    page.click("#id_comment")
    page.keyboard.type("jar")  # "j", "a" and "r" typed in a field are text
    expect(page).to_have_url(review_url(queue["sms"]))
    page.fill("#id_comment", "")
    page.keyboard.press("Escape")  # leave the field: keys work again
    page.keyboard.press("r")
    expect(page.locator("#id_comment")).to_be_focused()
    expect(page.locator("#reject-hint")).to_be_visible()
    page.keyboard.type("Wrong number")
    screenshot("rejecting")
    page.keyboard.press("Enter")
    expect(success).to_contain_text(f"Rejected {ids['sms']}")

    # 4. The LinkedIn message opens next; `k` goes back to the skipped reply,
    # `j` forward again, and `j` on the last one returns to the queue.
    check_preview(
        page, queue["linkedin"], to="https://www.linkedin.com/in/fay-example", text="Hi Fay"
    )
    expect(page.locator("#queue-position")).to_have_text("2 of 2 awaiting approval")
    screenshot("linkedin")
    page.keyboard.press("k")
    arrive(page, queue["reply"])
    page.keyboard.press("j")
    arrive(page, queue["linkedin"])
    page.keyboard.press("j")
    expect(page).to_have_url(re.compile(f"{QUEUE}$"))
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    screenshot("queue-after")

    # The database agrees, and the decisions are the reviewer's.
    for action in queue.values():
        action.refresh_from_db()
    assert {name: action.status for name, action in queue.items()} == {
        "email": ActionStatus.SCHEDULED,
        "reply": ActionStatus.PENDING_APPROVAL,
        "sms": ActionStatus.REJECTED,
        "linkedin": ActionStatus.PENDING_APPROVAL,
    }
    decisions = list(ApprovalDecision.objects.order_by("id"))
    assert [(d.action_id, d.decision, d.comment) for d in decisions] == [
        (queue["email"].pk, "approve", ""),
        (queue["sms"].pk, "reject", "Wrong number"),
    ]
    assert {(d.reviewer, d.reviewer_label) for d in decisions} == {
        (reviewer, "admin:rita@example.org")
    }
    # Approving changed nothing but the status: the due time is as shown.
    assert decisions[0].scheduled_time_after == decisions[0].scheduled_time_before


def test_the_queue_fits_1440_pixels_without_scrolling_sideways(
    reviewer, queue, live_server, page, screenshot, other_workspace, owner, log_in
):
    # A second workspace adds the Workspace column; long values must wrap, not widen.
    MembershipFactory(workspace=other_workspace, user=reviewer, role=Role.ADMIN)
    globex = services.identity_create(
        workspace=other_workspace,
        channel="email",
        address="a-very-long-sender-address-for-outreach@globex-international.example.com",
        display_name="Globex International Business Development Team",
    )
    MembershipFactory(workspace=other_workspace, user=owner, role=Role.ADMIN)
    services.action_create(
        workspace=other_workspace,
        actor=Actor.for_user(owner),
        type="send_email",
        params={
            "to": "someone.with.a.really.long.address@subsidiary.globex-international.example.com",
            "subject": "A subject line long enough to need wrapping " * 3,
            "body": "Hi",
        },
        identity=globex,
        scheduled_time=timezone.now() - dt.timedelta(hours=1),
        require_approval=True,
        list_id="q3-enterprise-renewals-emea-north",
    )
    log_in(reviewer, next=QUEUE)
    expect(page).to_have_url(re.compile(f"{QUEUE}$"))

    results = page.locator("#changelist .results")
    expect(results).to_be_visible()
    widths = results.evaluate("el => [el.scrollWidth, el.clientWidth]")
    screenshot("queue-1440")
    assert widths[0] <= widths[1], f"the queue scrolls sideways: {widths}"
    headers = page.locator("#result_list thead th")
    for name in ("Recipient", "Subject / message", "Owner / list", "Workspace"):
        box = headers.filter(has_text=name).bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1440, name
