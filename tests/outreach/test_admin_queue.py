"""The approval queue in the admin, through Django's test client.

Decisions go through outreach.services, so these tests assert the database
(status, ApprovalDecision rows) as well as what the reviewer sees.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from contacts.models import Contact
from outreach import services
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
def identities(workspace, owner):
    return {
        "email": services.identity_create(
            workspace=workspace,
            channel="email",
            address="sales@acme.example.com",
            display_name="Acme Sales",
        ),
        "sms": services.identity_create(workspace=workspace, channel="sms", address="+14155550100"),
        "linkedin": services.identity_create(
            workspace=workspace,
            channel="linkedin",
            address="https://www.linkedin.com/in/acme-sales",
        ),
    }


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
        channel = {"send_email": "email", "send_sms": "sms", "linkedin_message": "linkedin"}
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


@pytest.fixture
def reviewer(owner):
    """A staff member of the workspace with the approve permission (not a superuser)."""
    grant(owner, "approve_action")
    return owner


@pytest.fixture
def reviewer_client(reviewer) -> Client:
    return logged_in(reviewer)


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


def test_edit_and_approve_changes_only_what_the_reviewer_changed(reviewer_client, propose):
    action = propose(params={"to": "dana@example.com", "subject": "Hello", "body": "Hi\nBye"})
    new_due = (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0, second=0)

    reviewer_client.post(
        decide_url(action),
        {
            "decision": "edit",
            "comment": "Better subject",
            "param_to": "dana@example.com",
            "param_cc": "",
            "param_subject": "Hello Dana",
            "param_body": "Hi\r\nBye",  # what a browser posts for the untouched textarea
            "scheduled_time": timezone.localtime(new_due).strftime("%Y-%m-%dT%H:%M"),
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
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
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
