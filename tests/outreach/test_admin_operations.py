"""Operating actions in the admin, through Django's test client: counts by
status, stuck actions, attempts and last errors, Retry and Complete task.

States are set directly (`Action.objects.filter(...).update(...)`, attempts
created by hand) so each test sets up exactly the situation an operator meets;
the buttons go through outreach.services, so the tests assert the database.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Role
from outreach import services
from outreach.models import Action, ActionAttempt, ActionStatus, ActionTransition, AttemptOutcome
from tests.admin_helpers import grant, logged_in, messages_of
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTIONS = "/admin/outreach/action/"
TASK = {"type": "task", "params": {"title": "Call Dana back"}, "require_approval": False}


def detail_url(action: Action) -> str:
    return f"{ACTIONS}{action.pk}/change/"


def retry_url(action: Action) -> str:
    return f"{ACTIONS}{action.pk}/retry/"


def complete_url(action: Action) -> str:
    return f"{ACTIONS}{action.pk}/complete/"


def listed(response) -> set[str]:
    return {a.public_id for a in response.context["cl"].result_list}


def set_state(action: Action, **fields) -> Action:
    Action.objects.filter(pk=action.pk).update(**fields)
    action.refresh_from_db()
    return action


def fail(action: Action, error: str = "550 5.1.1 Mailbox unavailable", retries: int = 0) -> Action:
    return set_state(action, status=ActionStatus.FAILED, error_message=error, retry_count=retries)


def make_stuck(action: Action, minutes_ago: int = 5) -> Action:
    return set_state(
        action,
        status=ActionStatus.PROCESSING,
        lease_token=uuid.uuid4(),
        lease_expires_at=timezone.now() - dt.timedelta(minutes=minutes_ago),
    )


def attempt(action: Action, number: int, outcome: str, error: str = "", **extra) -> ActionAttempt:
    started = timezone.now() - dt.timedelta(minutes=10 - number)
    return ActionAttempt.objects.create(
        workspace=action.workspace,
        action=action,
        identity=action.identity,
        number=number,
        lease_token=uuid.uuid4(),
        outcome=outcome,
        error_message=error,
        worker="worker-1:4242",
        started_at=started,
        finished_at=None
        if outcome == AttemptOutcome.RUNNING
        else started + dt.timedelta(seconds=2),
        **extra,
    )


@pytest.fixture
def operator(owner):
    """A staff member of the workspace with the approve permission (not a superuser)."""
    grant(owner, "approve_action")
    return owner


@pytest.fixture
def operator_client(operator) -> Client:
    return logged_in(operator)


@pytest.fixture
def viewer(workspace):
    """Staff of the workspace who may look at actions but not operate them."""
    user = MembershipFactory(
        workspace=workspace, user=UserFactory(username="vera@example.org"), role=Role.ADMIN
    ).user
    grant(user, "view_action")
    return user


@pytest.fixture
def elsewhere(other_workspace, outsider):
    """A failed action in another workspace."""
    identity = services.identity_create(
        workspace=other_workspace, channel="email", address="ops@globex.example.com"
    )
    action = services.action_create(
        workspace=other_workspace,
        actor=Actor.for_user(outsider),
        type="send_email",
        params={"to": "x@example.com", "subject": "Hi", "body": "Hello"},
        identity=identity,
    )
    return fail(action, "elsewhere broke")


# --- The list: counts by status, stuck, columns ------------------------------------
def test_the_list_counts_actions_by_status_in_the_users_workspaces_only(
    operator_client, make_action, workspace, elsewhere
):
    make_action()  # pending approval
    make_action()
    make_action(require_approval=False)  # scheduled
    fail(make_action(require_approval=False))
    make_stuck(make_action(require_approval=False))
    set_state(  # processing, lease still running: not stuck
        make_action(require_approval=False),
        status=ActionStatus.PROCESSING,
        lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    set_state(make_action(require_approval=False), status=ActionStatus.COMPLETED)

    response = operator_client.get(ACTIONS)

    assert response.status_code == 200
    counts = response.context["status_counts"]
    shown = {s["value"]: s["count"] for s in counts["statuses"]}
    expected = {status.value: 0 for status in ActionStatus}
    for status in Action.objects.filter(workspace=workspace).values_list("status", flat=True):
        expected[status] += 1
    assert shown == expected
    assert Action.objects.filter(status=ActionStatus.FAILED).count() == 2  # one is elsewhere's
    assert shown["pending_approval"] == 2 and shown["failed"] == 1 and shown["processing"] == 2
    assert counts["total"] == 7
    assert counts["stuck"] == 1
    page = response.content.decode()
    assert re.search(
        r'href="\?status__exact=failed"[^>]*>Failed <span data-count="failed">1<', page
    )
    assert 'href="?stuck=yes"' in page
    assert '<span data-count="stuck">1</span>' in page


def test_a_superuser_counts_every_workspace(make_action, elsewhere):
    make_action()
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw")

    counts = logged_in(root).get(ACTIONS).context["status_counts"]

    shown = {s["value"]: s["count"] for s in counts["statuses"]}
    assert shown["failed"] == 1 and shown["pending_approval"] == 1 and counts["total"] == 2


def test_the_status_links_filter_the_list(operator_client, make_action):
    failed = fail(make_action(require_approval=False))
    make_action()

    response = operator_client.get(ACTIONS, {"status__exact": "failed"})

    assert listed(response) == {failed.public_id}
    current = [s["value"] for s in response.context["status_counts"]["statuses"] if s["current"]]
    assert current == ["failed"]


def test_the_stuck_filter_lists_only_processing_actions_past_their_lease(
    operator_client, make_action
):
    stuck = make_stuck(make_action(require_approval=False))
    set_state(
        make_action(require_approval=False),
        status=ActionStatus.PROCESSING,
        lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )
    # An expired lease on a row that is no longer processing is not stuck.
    set_state(
        make_action(require_approval=False),
        status=ActionStatus.SCHEDULED,
        lease_expires_at=timezone.now() - dt.timedelta(minutes=5),
    )
    fail(make_action(require_approval=False))

    response = operator_client.get(ACTIONS, {"stuck": "yes"})

    assert listed(response) == {stuck.public_id}
    assert response.context["status_counts"]["stuck"] == 1
    assert 'class="stuck"' in response.content.decode()  # the row says so


def test_the_list_shows_retries_and_the_truncated_last_error(operator_client, make_action):
    long_error = "SMTP 451 4.7.1 Greylisted, try again later " + "x" * 200
    action = set_state(make_action(require_approval=False), error_message=long_error, retry_count=2)

    page = operator_client.get(ACTIONS).content.decode()

    row = page[page.index(action.public_id) :]
    row = row[: row.index("</tr>")]
    assert '<td class="field-retries">2</td>' in row
    assert f'title="{long_error}">{long_error[:59]}…</span>' in row  # full text on hover
    assert "stuck" not in row


def test_the_list_runs_the_same_number_of_queries_for_1_or_30_actions(
    operator_client, make_action, sms_identity
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator_client.get(ACTIONS).status_code == 200
        return len(captured)

    fail(make_action(require_approval=False))
    one = queries()
    for i in range(29):
        action = make_action(
            type="send_sms",
            identity=sms_identity,
            params={"recipient_phone": "+14155550123", "message": f"Hi {i}"},
            require_approval=i % 2 == 0,
        )
        if i % 3 == 0:
            fail(action, retries=i)
    assert Action.objects.count() == 30
    assert queries() == one


# --- The detail page ---------------------------------------------------------------
def test_the_page_shows_attempts_and_the_last_error(operator_client, make_action):
    action = fail(
        make_action(require_approval=False),
        error="Gave up after 3 attempts: 421 Service not available",
        retries=3,
    )
    attempt(action, 1, AttemptOutcome.TRANSIENT_ERROR, "421 Service <not> available")
    attempt(action, 2, AttemptOutcome.LOST, "Worker lost mid-attempt; lease reclaimed.")
    attempt(action, 3, AttemptOutcome.TRANSIENT_ERROR, "421 Service not available")

    response = operator_client.get(detail_url(action))

    assert response.status_code == 200
    page = response.content.decode()
    last_error = page[page.index('id="last-error"') :]
    assert "Gave up after 3 attempts: 421 Service not available" in last_error[:400]
    attempts = page[page.index('id="attempts-group"') :]
    attempts = attempts[: attempts.index('id="decisions-group"')]
    assert attempts.count('class="field-number"') == 3
    assert "Transient error (retried)" in attempts
    assert "Lost (worker died, lease reclaimed)" in attempts
    assert "421 Service &lt;not&gt; available" in attempts  # escaped
    assert "worker-1:4242" in attempts
    assert 'name="attempts-0-number"' not in attempts  # read-only, no inputs


def test_the_page_warns_about_a_stuck_action(operator_client, make_action):
    action = make_stuck(make_action(require_approval=False))

    page = operator_client.get(detail_url(action)).content.decode()

    assert 'id="stuck-warning"' in page
    assert "beat is not running" in page


def test_retry_shows_only_for_failed_actions_and_requeues_through_the_service(
    operator_client, make_action, operator
):
    failed = fail(make_action(require_approval=False), retries=5)
    attempt(failed, 1, AttemptOutcome.PERMANENT_ERROR, "550 5.1.1 Mailbox unavailable")
    scheduled = make_action(require_approval=False)

    assert 'id="retry-button"' not in operator_client.get(detail_url(scheduled)).content.decode()
    page = operator_client.get(detail_url(failed)).content.decode()
    assert 'id="retry-button"' in page
    assert f'action="{retry_url(failed)}"' in page

    response = operator_client.post(retry_url(failed), follow=True)

    assert response.redirect_chain[-1][0] == detail_url(failed)
    assert any(m.startswith(f"Requeued {failed.public_id}") for m in messages_of(response))
    failed.refresh_from_db()
    assert failed.status == ActionStatus.SCHEDULED
    assert failed.retry_count == 0 and failed.error_message == ""
    assert failed.scheduled_time <= timezone.now()
    transition = ActionTransition.objects.filter(action=failed).last()
    assert (transition.from_status, transition.to_status) == ("failed", "scheduled")
    assert transition.actor == operator and transition.reason == "retry requested"
    assert failed.attempts.count() == 1  # its history stays
    assert 'id="retry-button"' not in response.content.decode()


def test_retrying_an_action_that_is_not_failed_shows_the_conflict_and_changes_nothing(
    operator_client, make_action
):
    action = set_state(make_action(require_approval=False), status=ActionStatus.COMPLETED)
    before = action.updated_at

    response = operator_client.post(retry_url(action), follow=True)

    assert response.redirect_chain[-1][0] == detail_url(action)
    assert any(
        "is completed; only failed actions can be retried. Nothing was changed." in m
        for m in messages_of(response)
    )
    action.refresh_from_db()
    assert action.status == ActionStatus.COMPLETED and action.updated_at == before
    assert not ActionTransition.objects.filter(action=action, reason="retry requested").exists()


def test_complete_task_shows_only_for_scheduled_tasks_and_completes_them(
    operator_client, make_action, operator
):
    task = make_action(**TASK)
    email = make_action(require_approval=False)
    pending_task = make_action(**{**TASK, "require_approval": True})

    assert 'id="complete-button"' not in operator_client.get(detail_url(email)).content.decode()
    assert (
        'id="complete-button"' not in operator_client.get(detail_url(pending_task)).content.decode()
    )
    page = operator_client.get(detail_url(task)).content.decode()
    assert 'id="complete-button"' in page and 'name="note"' in page

    response = operator_client.post(complete_url(task), {"note": "Left a voicemail"}, follow=True)

    assert any(m == f"Completed task {task.public_id}." for m in messages_of(response))
    task.refresh_from_db()
    assert task.status == ActionStatus.COMPLETED and task.executed_at is not None
    transition = ActionTransition.objects.filter(action=task).last()
    assert transition.reason == "completed: Left a voicemail" and transition.actor == operator
    assert 'id="complete-button"' not in response.content.decode()


def test_completing_a_non_task_is_refused_and_changes_nothing(operator_client, make_action):
    email = make_action(require_approval=False)

    response = operator_client.post(complete_url(email), follow=True)

    assert any("only tasks are completed by hand" in m for m in messages_of(response))
    email.refresh_from_db()
    assert email.status == ActionStatus.SCHEDULED


def test_the_operation_views_only_accept_post_with_a_csrf_token(
    operator_client, operator, make_action
):
    failed = fail(make_action(require_approval=False))
    task = make_action(**TASK)

    assert operator_client.get(retry_url(failed)).status_code == 405
    assert operator_client.get(complete_url(task)).status_code == 405
    strict = logged_in(operator, enforce_csrf_checks=True)
    assert strict.post(retry_url(failed)).status_code == 403
    assert strict.post(complete_url(task)).status_code == 403
    failed.refresh_from_db()
    task.refresh_from_db()
    assert (failed.status, task.status) == (ActionStatus.FAILED, ActionStatus.SCHEDULED)


def test_without_the_permission_there_are_no_buttons_and_the_views_answer_403(viewer, make_action):
    failed = fail(make_action(require_approval=False))
    task = make_action(**TASK)
    client = logged_in(viewer)

    for action in (failed, task):
        page = client.get(detail_url(action))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'id="retry-button"' not in html and 'id="complete-button"' not in html
        assert 'id="no-operate-permission"' in html
    assert client.post(retry_url(failed)).status_code == 403
    assert client.post(complete_url(task)).status_code == 403
    # No bulk action either: the list has no action checkboxes.
    assert 'name="_selected_action"' not in client.get(ACTIONS).content.decode()
    client.post(ACTIONS, {"action": "retry_selected", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    task.refresh_from_db()
    assert (failed.status, task.status) == (ActionStatus.FAILED, ActionStatus.SCHEDULED)


def test_another_workspaces_action_is_not_reachable(operator_client, elsewhere):
    assert operator_client.get(detail_url(elsewhere)).status_code == 302  # "doesn't exist"
    assert operator_client.post(retry_url(elsewhere)).status_code == 404
    assert operator_client.post(complete_url(elsewhere)).status_code == 404
    assert operator_client.post(f"{ACTIONS}nope/retry/").status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.status == ActionStatus.FAILED


# --- Bulk retry --------------------------------------------------------------------
def test_bulk_retry_requeues_the_failed_and_skips_the_rest(operator_client, make_action, elsewhere):
    first = fail(make_action(require_approval=False), retries=5)
    second = fail(make_action(require_approval=False))
    done = set_state(make_action(require_approval=False), status=ActionStatus.COMPLETED)

    response = operator_client.post(
        ACTIONS,
        {
            "action": "retry_selected",
            # The other workspace's id is not in the user's queryset: ignored.
            "_selected_action": [first.pk, second.pk, done.pk, elsewhere.pk],
        },
        follow=True,
    )

    texts = messages_of(response)
    assert any(
        m == f"Requeued 2 failed actions: {first.public_id}, {second.public_id}." for m in texts
    )
    assert any(
        m == f"Skipped 1 action that is not failed: {done.public_id} (completed)." for m in texts
    )
    for action in (first, second):
        action.refresh_from_db()
        assert (action.status, action.retry_count) == (ActionStatus.SCHEDULED, 0)
    done.refresh_from_db()
    elsewhere.refresh_from_db()
    assert done.status == ActionStatus.COMPLETED and elsewhere.status == ActionStatus.FAILED


# --- The index ---------------------------------------------------------------------
def test_the_index_shows_failed_and_stuck_counts(operator_client, make_action, elsewhere):
    fail(make_action(require_approval=False))
    fail(make_action(require_approval=False))
    make_stuck(make_action(require_approval=False))
    set_state(
        make_action(require_approval=False),
        status=ActionStatus.PROCESSING,
        lease_expires_at=timezone.now() + dt.timedelta(minutes=5),
    )

    page = operator_client.get("/admin/").content.decode()

    assert re.search(r'id="failed-count">(\d+)<', page).group(1) == "2"  # not elsewhere's
    assert re.search(r'id="stuck-count">(\d+)<', page).group(1) == "1"
    assert f'href="{ACTIONS}?status__exact=failed"' in page
    assert f'href="{ACTIONS}?stuck=yes"' in page


def test_the_index_hides_operations_from_users_who_cannot_see_actions(workspace):
    clerk = MembershipFactory(
        workspace=workspace, user=UserFactory(username="clerk@example.org"), role=Role.MEMBER
    ).user
    grant(clerk, "view_identity")

    page = logged_in(clerk).get("/admin/").content.decode()

    assert 'id="operations-summary"' not in page
