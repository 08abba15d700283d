"""The approval queue in the admin, through Django's test client.

Decisions go through outreach.services, so these tests assert the database
(status, ApprovalDecision rows) as well as what the reviewer sees.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import urlencode

from accounts.actors import Actor
from accounts.models import Membership, Role
from contacts.models import Contact, Conversation, Direction, Message
from outreach import services
from outreach.admin.reviewer_time import reviewer_zone_name
from outreach.models import Action, ActionStatus, ApprovalDecision, Identity, PendingApproval
from outreach.previews import preview_of, sms_segments
from tests.admin_helpers import grant, logged_in, messages_of
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

QUEUE = "/admin/outreach/pendingapproval/"


def detail_url(action: Action) -> str:
    return f"{QUEUE}{action.pk}/change/"


def decide_url(action: Action) -> str:
    return f"{QUEUE}{action.pk}/decide/"


def listed(response) -> list[str]:
    return [a.public_id for a in response.context["cl"].result_list]


@pytest.fixture
def propose(workspace, owner, identities):
    """Create an action awaiting approval, due `hours` from now."""

    def make(type="send_email", params=None, hours=1, user=None, ws=None, identity=None, **extra):
        defaults = {
            "send_email": {"to": "dana@example.com", "subject": "Hello", "body": "Hi Dana,\nBye"},
            "send_sms": {"recipient_phone": "+14155550123", "message": "See you at 3"},
            "linkedin_message": {
                "profile_url": "https://www.linkedin.com/in/erin-example",
                "message": "Hi Erin",
            },
        }
        channel = {
            "send_email": "email",
            "email_message": "email",
            "send_sms": "sms",
            "linkedin_message": "linkedin",
        }
        return services.action_create(
            workspace=ws or workspace,
            actor=Actor.for_user(user or owner),
            type=type,
            params=params or defaults[type],
            identity=identity or identities[channel[type]],
            scheduled_time=timezone.now() + dt.timedelta(hours=hours),
            require_approval=True,
            **extra,
        )

    return make


# --- The list ---------------------------------------------------------------
def test_the_queue_lists_only_pending_actions_oldest_due_first(reviewer_client, propose, reviewer):
    later, first, middle = propose(hours=3), propose(hours=1), propose(hours=2)
    approved, rejected = propose(hours=0.5), propose(hours=0.2)
    services.action_decide(action=approved, actor=Actor.for_user(reviewer), decision="approve")
    services.action_decide(action=rejected, actor=Actor.for_user(reviewer), decision="reject")

    response = reviewer_client.get(QUEUE)

    assert response.status_code == 200
    assert listed(response) == [first.public_id, middle.public_id, later.public_id]


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("dana@", "email"),
        ("pricing", "email"),
        ("4155550123", "sms"),
        ("erin-example", "linkedin"),
        ("renewal", "described"),
    ],
)
def test_the_queue_searches_recipient_subject_and_description(
    reviewer_client, propose, term, expected
):
    actions = {
        "email": propose(
            params={"to": "dana@example.com", "subject": "Quarterly PRICING", "body": "Hi"}
        ),
        "sms": propose(type="send_sms"),
        "linkedin": propose(type="linkedin_message"),
        "described": propose(
            params={"to": "fay@example.org", "subject": "Hi", "body": "Hi"},
            description="Renewal follow-up",
        ),
    }

    response = reviewer_client.get(QUEUE, {"q": term})

    assert listed(response) == [actions[expected].public_id]


def test_the_queue_filters_by_type_identity_owner_and_list(
    reviewer_client, propose, identities, member, workspace
):
    email = propose(list_id="list-a")
    sms = propose(type="send_sms", user=member, list_id="list-b")
    linkedin = propose(type="linkedin_message", list_id="list-b")

    def ids(**query) -> set[str]:
        response = reviewer_client.get(QUEUE, query)
        assert response.status_code == 200
        return set(listed(response))

    assert ids(type="send_sms") == {sms.public_id}
    assert ids(identity__id__exact=identities["linkedin"].pk) == {linkedin.public_id}
    assert ids(owner__id__exact=member.pk) == {sms.public_id}
    assert ids(list_id="list-b") == {sms.public_id, linkedin.public_id}
    assert ids(list_id="list-a", type="send_email") == {email.public_id}
    # The list filter offers the lists in the queue.
    page = reviewer_client.get(QUEUE).content.decode()
    assert "?list_id=list-a" in page and "?list_id=list-b" in page


# --- The detail page --------------------------------------------------------
def test_the_detail_page_previews_the_email_escaped_with_buttons(reviewer_client, propose):
    action = propose(
        params={
            "to": "dana@example.com",
            "cc": ["ed@example.com"],
            "subject": "Pricing <b>now</b>",
            "body": "Hi Dana,\n<script>alert(1)</script>\nBest",
        }
    )

    response = reviewer_client.get(detail_url(action))

    page = response.content.decode()
    assert response.status_code == 200
    preview = page[page.index('id="action-preview"') : page.index('id="decision-form"')]
    assert "Acme Sales &lt;sales@acme.example.com&gt;" in preview
    assert "dana@example.com" in preview and "ed@example.com" in preview
    assert "Pricing &lt;b&gt;now&lt;/b&gt;" in preview
    assert "Hi Dana,\n&lt;script&gt;alert(1)&lt;/script&gt;\nBest" in preview
    assert "<script>alert(1)" not in page
    for button in ('value="approve"', 'value="reject"', 'value="edit"'):
        assert button in page
    assert "decision history" in page.lower() and "audit trail" in page.lower()


def test_the_previews_show_sms_and_linkedin_text(reviewer_client, propose):
    sms = propose(type="send_sms")
    linkedin = propose(type="linkedin_message")

    sms_page = reviewer_client.get(detail_url(sms)).content.decode()
    linkedin_page = reviewer_client.get(detail_url(linkedin)).content.decode()

    assert "See you at 3" in sms_page and "+14155550123" in sms_page
    assert "12 characters, 1 SMS part" in sms_page
    assert "Hi Erin" in linkedin_page
    assert "https://www.linkedin.com/in/erin-example" in linkedin_page


def test_sms_parts_follow_gsm7_and_ucs2_limits():
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("é" * 160) == 1  # é is in GSM-7
    assert sms_segments("ł" * 70) == 1
    assert sms_segments("ł" * 71) == 2


def test_every_type_has_a_preview(propose, workspace, owner, identities):
    task = services.action_create(
        workspace=workspace,
        actor=Actor.for_user(owner),
        type="task",
        params={"title": "Call back", "note": "Tuesday"},
        identity=identities["email"],
        require_approval=True,
    )
    preview = preview_of(task)
    assert (preview.kind, preview.headers, preview.body) == (
        "task",
        [("Title", "Call back")],
        "Tuesday",
    )


# --- Decisions --------------------------------------------------------------
def test_approving_schedules_the_action_and_records_the_decision(
    reviewer_client, reviewer, propose
):
    action = propose()

    response = reviewer_client.post(
        decide_url(action), {"decision": "approve", "comment": "Looks good"}, follow=True
    )

    assert response.redirect_chain[-1][0] == QUEUE
    assert any(m.startswith(f"Approved {action.public_id}") for m in messages_of(response))
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    decision = ApprovalDecision.objects.get(action=action)
    assert (decision.decision, decision.comment, decision.reviewer) == (
        "approve",
        "Looks good",
        reviewer,
    )
    assert decision.reviewer_label == f"admin:{reviewer.get_username()}"
    assert action.public_id not in listed(reviewer_client.get(QUEUE))


def test_rejecting_records_the_comment(reviewer_client, propose):
    action = propose(type="send_sms")

    reviewer_client.post(decide_url(action), {"decision": "reject", "comment": "Wrong number"})

    action.refresh_from_db()
    assert action.status == ActionStatus.REJECTED
    assert ApprovalDecision.objects.get(action=action).comment == "Wrong number"
    assert action.transitions.last().reason == "reject: Wrong number"


def test_edit_and_approve_changes_only_what_the_reviewer_changed(
    reviewer_client, propose, workspace
):
    action = propose(params={"to": "dana@example.com", "subject": "Hello", "body": "Hi\nBye"})
    new_due = (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0, second=0)
    # The edit field is in the reviewer's zone: the workspace's, as they set none.
    in_reviewer_zone = new_due.astimezone(ZoneInfo(workspace.timezone))

    reviewer_client.post(
        decide_url(action),
        {
            "decision": "edit",
            "comment": "Better subject",
            "param_to": "dana@example.com",
            "param_cc": "",
            "param_subject": "Hello Dana",
            "param_body": "Hi\r\nBye",  # what a browser posts for the untouched textarea
            "scheduled_time": in_reviewer_zone.strftime("%Y-%m-%dT%H:%M"),
        },
    )

    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert action.params == {"to": "dana@example.com", "subject": "Hello Dana", "body": "Hi\nBye"}
    assert action.scheduled_time == new_due
    decision = ApprovalDecision.objects.get(action=action)
    assert decision.decision == "edit"
    assert decision.params_before["subject"] == "Hello"
    assert decision.params_after["subject"] == "Hello Dana"
    assert decision.scheduled_time_after == new_due


def test_an_invalid_edit_shows_the_errors_and_changes_nothing(reviewer_client, propose):
    action = propose()

    response = reviewer_client.post(
        decide_url(action),
        {"decision": "edit", "param_to": "not-an-email", "param_subject": ""},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Nothing was changed" in page
    errors = response.context["decision_form"].errors
    assert "not a valid email address" in errors["param_to"][0]
    assert errors["param_subject"]  # required for an email
    assert 'value="not-an-email"' in page  # the reviewer's input is kept
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL
    assert action.params["to"] == "dana@example.com"
    assert not ApprovalDecision.objects.filter(action=action).exists()


def test_approving_with_unsaved_edits_is_refused(reviewer_client, propose):
    action = propose()

    response = reviewer_client.post(
        decide_url(action), {"decision": "approve", "param_subject": "Changed"}
    )

    assert response.status_code == 400
    assert "Edit and approve" in response.context["decision_form"].non_field_errors()[0]
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_an_action_decided_meanwhile_shows_a_conflict(reviewer_client, propose, member):
    action = propose()
    services.action_decide(action=action, actor=Actor.for_user(member), decision="reject")

    response = reviewer_client.post(decide_url(action), {"decision": "approve"}, follow=True)

    assert any("already decided by someone else" in m for m in messages_of(response))
    action.refresh_from_db()
    assert action.status == ActionStatus.REJECTED
    assert ApprovalDecision.objects.filter(action=action).count() == 1
    # Its queue page now leads to the action's read-only page.
    response = reviewer_client.get(detail_url(action))
    assert response.status_code == 302
    assert response.url == f"/admin/outreach/action/{action.pk}/change/"


def test_a_decision_on_an_outdated_page_is_refused(reviewer_client, propose):
    action = propose()
    page = reviewer_client.get(detail_url(action)).content.decode()
    seen = re.search(r'name="seen" value="([^"]+)"', page).group(1)
    Action.objects.filter(pk=action.pk).update(
        params={**action.params, "body": "Something else"}, updated_at=timezone.now()
    )

    response = reviewer_client.post(
        decide_url(action), {"decision": "approve", "seen": seen}, follow=True
    )

    assert response.redirect_chain[-1][0] == detail_url(action)
    assert any("changed since you opened it" in m for m in messages_of(response))
    assert "Something else" in response.content.decode()  # the fresh preview
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_the_decide_view_only_accepts_post(reviewer_client, propose):
    assert reviewer_client.get(decide_url(propose())).status_code == 405


def test_decisions_need_the_csrf_token(reviewer, propose):
    client = logged_in(reviewer, enforce_csrf_checks=True)
    action = propose()

    assert client.post(decide_url(action), {"decision": "approve"}).status_code == 403
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


# --- Permissions and tenancy ------------------------------------------------
def test_staff_without_the_approve_permission_can_look_but_not_decide(member, propose):
    grant(member, "view_pendingapproval")
    client = logged_in(member)
    action = propose()

    page = client.get(detail_url(action))
    assert page.status_code == 200
    assert 'id="decision-form"' not in page.content.decode()
    assert 'id="no-decision-permission"' in page.content.decode()

    assert client.post(decide_url(action), {"decision": "approve"}).status_code == 403

    changelist = client.get(QUEUE)
    assert action.public_id in listed(changelist)
    assert changelist.context["action_form"] is None  # no bulk actions offered
    client.post(QUEUE, {"action": "approve_selected", "_selected_action": [action.pk]})

    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_staff_of_another_workspace_neither_see_nor_decide(outsider, propose):
    grant(outsider, "approve_action")
    client = logged_in(outsider)
    action = propose()

    assert action.public_id not in listed(client.get(QUEUE))
    detail = client.get(detail_url(action), follow=True)
    assert "Perhaps it was deleted?" in " ".join(messages_of(detail))
    assert client.post(decide_url(action), {"decision": "approve"}).status_code == 404
    assert client.get(f"/admin/outreach/action/{action.pk}/change/").status_code == 302
    client.post(
        QUEUE, {"action": "approve_selected", "_selected_action": [action.pk], "post": "yes"}
    )

    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_a_superuser_sees_every_workspace(propose, other_workspace, outsider):
    mine = propose()
    globex_identity = services.identity_create(
        workspace=other_workspace, channel="email", address="ops@globex.example.com"
    )
    theirs = propose(ws=other_workspace, identity=globex_identity, user=outsider)
    admin_user = UserFactory(username="root@example.org", is_staff=True, is_superuser=True)

    assert set(listed(logged_in(admin_user).get(QUEUE))) == {mine.public_id, theirs.public_id}


def test_the_action_list_is_read_only(reviewer_client, propose):
    action = propose()

    page = reviewer_client.get(f"/admin/outreach/action/{action.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert reviewer_client.get("/admin/outreach/action/add/").status_code == 403
    response = reviewer_client.post(
        f"/admin/outreach/action/{action.pk}/change/", {"status": "completed"}
    )
    assert response.status_code == 403
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


# --- Bulk decisions ---------------------------------------------------------
def test_bulk_approve_asks_for_a_comment_then_approves(reviewer_client, propose):
    first, second, untouched = propose(), propose(type="send_sms"), propose()
    selected = {"action": "approve_selected", "_selected_action": [first.pk, second.pk]}

    confirmation = reviewer_client.post(QUEUE, selected)

    assert confirmation.status_code == 200
    page = confirmation.content.decode()
    assert "Are you sure you want to approve these 2 actions?" in page
    assert first.public_id in page and second.public_id in page
    assert 'name="comment"' in page
    assert Action.objects.filter(status=ActionStatus.PENDING_APPROVAL).count() == 3

    done = reviewer_client.post(
        QUEUE, {**selected, "post": "yes", "comment": "Batch OK"}, follow=True
    )

    assert any(m.startswith("Approved 2 actions") for m in messages_of(done))
    for action in (first, second):
        action.refresh_from_db()
        assert action.status == ActionStatus.SCHEDULED
        assert ApprovalDecision.objects.get(action=action).comment == "Batch OK"
    untouched.refresh_from_db()
    assert untouched.status == ActionStatus.PENDING_APPROVAL


def test_bulk_reject_reports_actions_decided_meanwhile(reviewer_client, propose, member):
    first, second = propose(), propose()
    services.action_decide(action=second, actor=Actor.for_user(member), decision="approve")

    done = reviewer_client.post(
        QUEUE,
        {
            "action": "reject_selected",
            "_selected_action": [first.pk, second.pk],
            "post": "yes",
            "comment": "Off-message",
        },
        follow=True,
    )

    texts = messages_of(done)
    assert any(m.startswith(f"Rejected 1 action: {first.public_id}") for m in texts)
    assert any(
        f"Could not reject 1 action: {second.public_id}: already decided by someone else" in m
        for m in texts
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ActionStatus.REJECTED, ActionStatus.SCHEDULED)
    assert ApprovalDecision.objects.get(action=first).comment == "Off-message"


# --- The index --------------------------------------------------------------
def test_the_index_shows_how_many_await_approval(
    reviewer_client, propose, other_workspace, outsider
):
    propose(hours=-1)  # overdue
    propose()
    globex_identity = services.identity_create(
        workspace=other_workspace, channel="email", address="ops@globex.example.com"
    )
    propose(ws=other_workspace, identity=globex_identity, user=outsider)

    page = reviewer_client.get("/admin/").content.decode()

    count = re.search(r'id="approval-queue-count">(\d+)<', page)
    assert count and count.group(1) == "2"  # the other workspace's action is not counted
    assert "1 overdue" in page
    assert 'href="/admin/outreach/pendingapproval/"' in page


def test_the_index_hides_the_count_from_users_who_cannot_see_the_queue(workspace):
    clerk = MembershipFactory(
        workspace=workspace, user=UserFactory(username="clerk@example.org"), role=Role.MEMBER
    ).user
    grant(clerk, "view_identity")

    page = logged_in(clerk).get("/admin/").content.decode()

    assert 'id="approval-queue-summary"' not in page
    assert PendingApproval._meta.verbose_name_plural == "approval queue"


def test_every_type_renders_its_review_page(reviewer_client, workspace, owner, identities):
    phone = services.identity_create(workspace=workspace, channel="phone", address="+14155550199")
    contact = Contact.objects.create(workspace=workspace, email="con@example.com")
    proposals = [
        (
            "email_message",
            {"thread_id": "thr_1", "body": "Thanks!"},
            identities["email"],
            "Thanks!",
        ),
        (
            "call_contact",
            {"recipient_phone": "+14155550123", "script": "Ask about Q3"},
            phone,
            "Q3",
        ),
        (
            "update_lifecycle_stage",
            {"contact_id": contact.public_id, "stage": "customer", "reason": "Signed"},
            identities["email"],
            "Customer",
        ),
        ("task", {"title": "Send the deck"}, identities["email"], "Send the deck"),
    ]
    for type_, params, identity, shown in proposals:
        action = services.action_create(
            workspace=workspace,
            actor=Actor.for_user(owner),
            type=type_,
            params=params,
            identity=identity,
            require_approval=True,
        )
        page = reviewer_client.get(detail_url(action))
        assert page.status_code == 200, type_
        assert shown in page.content.decode(), type_
        assert 'id="edit-button"' in page.content.decode(), type_


def test_the_queue_shows_filter_counts(reviewer_client, propose):
    propose(list_id="list-a")
    assert reviewer_client.get(QUEUE, {"_facets": "True"}).status_code == 200


# --- Identities -------------------------------------------------------------
def test_identities_are_created_through_the_service(reviewer_client, reviewer, workspace):
    grant(reviewer, "add_identity", "change_identity", "view_identity")

    response = reviewer_client.post(
        "/admin/outreach/identity/add/",
        {
            "workspace": workspace.pk,
            "channel": "sms",
            "address": "+1 415 555 0177",
            "display_name": "Support line",
            "window_days": ["0", "1"],
        },
    )

    assert response.status_code == 302
    identity = Identity.objects.get(display_name="Support line")
    assert (identity.address, identity.window_days) == ("+14155550177", [0, 1])

    duplicate = reviewer_client.post(
        "/admin/outreach/identity/add/",
        {"workspace": workspace.pk, "channel": "sms", "address": "+14155550177"},
    )
    assert duplicate.status_code == 200
    assert "already exists" in duplicate.content.decode()

    changed = reviewer_client.post(
        f"/admin/outreach/identity/{identity.pk}/change/",
        {"address": "+1 (415) 555-0188", "display_name": "Support", "window_days": ["2"]},
    )
    assert changed.status_code == 302
    identity.refresh_from_db()
    assert (identity.address, identity.display_name, identity.window_days) == (
        "+14155550188",
        "Support",
        [2],
    )

    invalid = reviewer_client.post(
        "/admin/outreach/identity/add/",
        {"workspace": workspace.pk, "channel": "email", "address": "not an email"},
    )
    assert "not a valid email address" in invalid.content.decode()


def test_identities_of_another_workspace_are_hidden(outsider, identities, workspace):
    grant(outsider, "add_identity", "view_identity")
    client = logged_in(outsider)

    assert client.get("/admin/outreach/identity/").context["cl"].result_count == 0
    response = client.post(
        "/admin/outreach/identity/add/",
        {"workspace": workspace.pk, "channel": "sms", "address": "+14155550178"},
    )
    assert "Select a valid choice" in response.content.decode()


# --- Drafted replies: recipient and subject from the thread ------------------
@pytest.fixture
def thread(workspace):
    """Dana's email thread; the conversation has no subject of its own, its
    latest message with one does (what the executor falls back to)."""
    dana = Contact.objects.create(workspace=workspace, email="dana@example.com", firstname="Dana")
    conversation = Conversation.objects.create(workspace=workspace, contact=dana, channel="email")
    now = timezone.now()
    for hours, subject in ((3, "Old question"), (2, "Pricing question"), (1, "")):
        Message.objects.create(
            workspace=workspace,
            conversation=conversation,
            direction=Direction.INBOUND,
            from_address="dana@example.com",
            to_address="sales@acme.example.com",
            subject=subject,
            body="...",
            sent_at=now - dt.timedelta(hours=hours),
        )
    return conversation


def drafted_reply(propose, thread, **params):
    """What an automation's Reply step creates: only thread_id and body."""
    return propose(
        type="email_message", params={"thread_id": thread.public_id, "body": "Hi Dana", **params}
    )


def preview_cells(page: str) -> dict[str, str]:
    preview = page[page.index('id="action-preview"') :]
    preview = preview[: preview.index("</table>")]
    return {
        label: re.sub(r"<[^>]+>", "", value).strip()
        for label, value in re.findall(r'<td data-preview="([^"]+)">(.*?)</td>', preview, re.S)
    }


def test_a_drafted_replys_preview_names_the_thread_contact_and_subject(
    reviewer_client, propose, thread
):
    action = drafted_reply(propose, thread)

    page = reviewer_client.get(detail_url(action)).content.decode()

    cells = preview_cells(page)
    assert cells["to"] == "dana@example.com"
    assert cells["subject"] == "Re: Pricing question"  # the latest message with a subject
    assert "(the thread&#x27;s subject)" not in page and "(the thread's subject)" not in page
    assert f"Email reply to dana@example.com in thread {thread.public_id}" in page  # the title
    assert 'placeholder="Re: Pricing question"' in page  # the edit field says what empty sends


def test_a_drafted_reply_keeps_its_own_subject_and_warns_when_it_cannot_be_sent(
    reviewer_client, propose, thread
):
    own = drafted_reply(propose, thread, subject="About your plan")
    thread.subject = "Pricing question"
    thread.save(update_fields=["subject"])
    Contact.objects.filter(pk=thread.contact_id).update(unsubscribed=True)
    missing = propose(type="email_message", params={"thread_id": "th_missing", "body": "Hi"})

    own_page = reviewer_client.get(detail_url(own)).content.decode()
    missing_page = reviewer_client.get(detail_url(missing)).content.decode()

    assert preview_cells(own_page)["subject"] == "About your plan"
    assert "The recipient is suppressed (unsubscribed): this reply will fail." in own_page
    assert "Thread th_missing does not exist in this workspace" in missing_page
    assert "to" not in preview_cells(missing_page)


def test_the_queue_shows_drafted_replies_recipient_and_subject(reviewer_client, propose, thread):
    action = drafted_reply(propose, thread)

    response = reviewer_client.get(QUEUE)

    row = next(a for a in response.context["cl"].result_list if a.pk == action.pk)
    page = response.content.decode()
    assert row.reply_thread.to == "dana@example.com"
    assert '<span class="recipient">dana@example.com</span>' in page
    assert "Re: Pricing question" in page


def test_the_queue_lists_drafted_replies_in_a_constant_number_of_queries(
    reviewer_client, propose, workspace
):
    made = 0

    def threads(n: int) -> None:
        nonlocal made
        for _ in range(n):
            made += 1
            contact = Contact.objects.create(workspace=workspace, email=f"c{made}@example.com")
            conversation = Conversation.objects.create(
                workspace=workspace, contact=contact, channel="email", subject=f"Thread {made}"
            )
            params = {"thread_id": conversation.public_id, "body": "Hi"}
            propose(type="email_message", params=params)
        propose(type="send_sms")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = reviewer_client.get(QUEUE)
        assert response.status_code == 200
        return len(captured)

    threads(1)
    one = queries()
    threads(6)
    many = queries()

    assert many == one
    assert "Re: Thread 7" in reviewer_client.get(QUEUE).content.decode()


# --- Search over SMS and LinkedIn text -----------------------------------------
@pytest.mark.parametrize(("term", "expected"), [("parcel", "sms"), ("PIPELINES", "linkedin")])
def test_the_queue_searches_sms_and_linkedin_message_text(reviewer_client, propose, term, expected):
    actions = {
        "sms": propose(
            type="send_sms",
            params={"recipient_phone": "+14155550123", "message": "Your parcel arrives Tuesday"},
        ),
        "linkedin": propose(
            type="linkedin_message",
            params={
                "profile_url": "https://www.linkedin.com/in/erin-example",
                "message": "Loved your talk on pipelines",
            },
        ),
        "email": propose(params={"to": "dana@example.com", "subject": "Hi", "body": "A parcel"}),
    }

    response = reviewer_client.get(QUEUE, {"q": term})

    assert listed(response) == [actions[expected].public_id]


# --- Walking the queue ------------------------------------------------------------
def test_after_a_decision_the_next_pending_item_opens(reviewer_client, propose):
    first, second, third = propose(hours=1), propose(hours=2), propose(hours=3)

    approved = reviewer_client.post(decide_url(first), {"decision": "approve"}, follow=True)

    assert approved.redirect_chain[-1][0] == detail_url(second)
    assert any(m.startswith(f"Approved {first.public_id}") for m in messages_of(approved))
    # Skipping the second, a decision on the third wraps round to the second.
    rejected = reviewer_client.post(decide_url(third), {"decision": "reject"}, follow=True)
    assert rejected.redirect_chain[-1][0] == detail_url(second)
    # The last one leads back to the queue, saying so.
    last = reviewer_client.post(decide_url(second), {"decision": "approve"}, follow=True)
    assert last.redirect_chain[-1][0] == QUEUE
    assert "Nothing else awaits approval here." in messages_of(last)


def test_the_next_item_follows_the_filters_and_order_the_reviewer_came_from(
    reviewer_client, propose
):
    sms_late = propose(type="send_sms", hours=3)
    propose(hours=2)  # an email: filtered out
    sms_early = propose(type="send_sms", hours=1)
    listed_as = urlencode({"_changelist_filters": "type__exact=send_sms&o=-1"})  # due, latest first

    page = reviewer_client.get(f"{detail_url(sms_late)}?{listed_as}")
    assert page.context["queue_place"].position == 1
    assert page.context["queue_place"].total == 2
    assert page.context["next_url"] == f"{detail_url(sms_early)}?{listed_as}"
    assert page.context["previous_url"] == ""
    assert 'id="review-keys"' in page.content.decode()
    assert "outreach/review_keys.js" in page.content.decode()

    response = reviewer_client.post(f"{decide_url(sms_late)}?{listed_as}", {"decision": "approve"})

    assert response.status_code == 302
    assert response.url == f"{detail_url(sms_early)}?{listed_as}"


# --- Times: the reviewer's zone, one format ---------------------------------------
def test_times_show_in_the_reviewers_zone_with_utc_on_hover(
    reviewer, reviewer_client, propose, workspace
):
    Membership.objects.filter(user=reviewer, workspace=workspace).update(
        timezone="America/New_York"
    )
    due = dt.datetime(2031, 1, 7, 14, 30, tzinfo=dt.UTC)
    action = propose()
    Action.objects.filter(pk=action.pk).update(scheduled_time=due)
    shown = "2031-01-07 09:30 EST (UTC-05:00)"
    on_hover = 'title="2031-01-07 14:30 UTC"'

    queue_page = reviewer_client.get(QUEUE).content.decode()
    review = reviewer_client.get(detail_url(action))
    page = review.content.decode()

    assert "<span>2031-01-07 09:30</span> <span>EST (UTC-05:00)</span>" in queue_page
    assert on_hover in queue_page
    assert preview_cells(page)["when"] == shown
    assert on_hover in page
    assert 'value="2031-01-07 09:30"' in page  # the edit field: the same format and zone
    assert "America/New_York" in str(review.context["decision_form"]["scheduled_time"].help_text)


def test_the_edit_field_is_read_in_the_reviewers_zone(
    reviewer, reviewer_client, propose, workspace
):
    Membership.objects.filter(user=reviewer, workspace=workspace).update(timezone="Asia/Tokyo")
    action = propose()

    reviewer_client.post(
        decide_url(action), {"decision": "edit", "scheduled_time": "2031-01-07 09:30"}
    )

    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert action.scheduled_time == dt.datetime(2031, 1, 7, 0, 30, tzinfo=dt.UTC)


def test_an_untouched_edit_field_keeps_the_seconds_of_the_due_time(reviewer_client, propose):
    action = propose()
    page = reviewer_client.get(detail_url(action)).content.decode()
    shown = re.search(r'name="scheduled_time" value="([^"]+)"', page).group(1)

    reviewer_client.post(
        decide_url(action),
        {"decision": "edit", "param_subject": "New subject", "scheduled_time": shown},
    )

    decision = ApprovalDecision.objects.get(action=action)
    assert decision.scheduled_time_after == decision.scheduled_time_before


@pytest.mark.parametrize(
    ("own", "workspaces", "expected"),
    [
        (["Asia/Tokyo", "Europe/Paris"], ["UTC", "UTC"], "Asia/Tokyo"),  # the oldest own zone
        (["", ""], ["Europe/Paris", "Europe/Paris"], "Europe/Paris"),  # their shared zone
        (["", ""], ["Europe/Paris", "Asia/Tokyo"], "UTC"),  # no one zone: settings.TIME_ZONE
        ([], [], "UTC"),  # a member of none, e.g. a superuser
    ],
)
def test_the_reviewers_zone(own, workspaces, expected, rf, settings):
    settings.TIME_ZONE = "UTC"
    user = UserFactory(username="zoe@example.org")
    for zone, workspace_zone in zip(own, workspaces, strict=True):
        MembershipFactory(user=user, timezone=zone, workspace__timezone=workspace_zone)
    request = rf.get("/")
    request.user = user

    assert reviewer_zone_name(request) == expected
