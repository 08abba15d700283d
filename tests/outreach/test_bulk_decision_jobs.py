"""Bulk approve/reject from the approval queue: up to 100 actions are decided in
the request; more (a long "show all" page, or "select all N" across pages) go to
a background job (outreach.bulk_jobs) with the same progress page as imports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import BackgroundJob
from accounts.services import background_job_errors_csv, background_job_run
from outreach import services
from outreach.models import Action, ActionStatus, ApprovalDecision
from tests.admin_helpers import messages_of

pytestmark = pytest.mark.django_db

QUEUE = "/admin/outreach/pendingapproval/"
JOBS = "/admin/accounts/backgroundjob/"


@pytest.fixture
def pending(act):
    def make(n: int) -> list:
        now = timezone.now()
        return [
            act(status=ActionStatus.PENDING_APPROVAL, scheduled_time=now + timedelta(minutes=i))
            for i in range(n)
        ]

    return make


def test_more_than_100_selected_are_decided_by_a_background_job(
    reviewer_client, pending, workspace, reviewer
):
    actions = pending(101)
    selected = {"action": "approve_selected", "_selected_action": [a.pk for a in actions]}

    confirmation = reviewer_client.post(QUEUE, selected)
    page = confirmation.content.decode()
    assert "approve these 101 actions?" in page and "decided in the\n  background" in page
    assert "(1 more not shown)" in page
    assert page.count('name="_selected_action"') == 101

    response = reviewer_client.post(QUEUE, {**selected, "post": "yes", "comment": "Bulk"})

    job = BackgroundJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{JOBS}{job.pk}/change/"
    assert (job.kind, job.total, job.workspace, job.created_by) == (
        "outreach.bulk_decide",
        101,
        workspace,
        reviewer,
    )
    assert job.params["action_ids"] == [a.public_id for a in actions]  # oldest due first
    assert ApprovalDecision.objects.count() == 0  # nothing decided in the request

    background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done, job.error_count) == ("succeeded", 101, 0)
    statuses = set(
        Action.objects.filter(pk__in=[a.pk for a in actions]).values_list("status", flat=True)
    )
    assert statuses == {ActionStatus.SCHEDULED}
    assert set(ApprovalDecision.objects.values_list("comment", flat=True)) == {"Bulk"}
    assert set(ApprovalDecision.objects.values_list("reviewer", flat=True)) == {reviewer.pk}
    # Each action's admin history says who approved it, as a decision in the request does.
    history = LogEntry.objects.filter(user=reviewer, action_flag=CHANGE)
    assert sorted(int(pk) for pk in history.values_list("object_id", flat=True)) == sorted(
        a.pk for a in actions
    )
    assert set(history.values_list("content_type__model", "change_message")) == {
        ("action", "Approved: Bulk")
    }


def test_100_or_fewer_stay_synchronous(reviewer_client, pending):
    actions = pending(100)
    selected = {"action": "reject_selected", "_selected_action": [a.pk for a in actions]}

    done = reviewer_client.post(QUEUE, {**selected, "post": "yes"}, follow=True)

    assert not BackgroundJob.objects.exists()
    assert any(m.startswith("Rejected 100 actions") for m in messages_of(done))
    assert ApprovalDecision.objects.count() == 100
    # The background job's history entries (above) are these same entries.
    assert set(LogEntry.objects.values_list("content_type__model", "change_message")) == {
        ("action", "Rejected")
    }
    assert LogEntry.objects.count() == 100


def test_select_all_across_pages_captures_the_filtered_queue(reviewer_client, pending, act):
    actions = pending(130)
    other = act(status=ActionStatus.PENDING_APPROVAL, type="send_sms")  # filtered out
    across = {
        "action": "reject_selected",
        "select_across": "1",
        "index": "0",
        "_selected_action": [a.pk for a in actions[:50]],  # the page's boxes
    }
    url = f"{QUEUE}?type__exact=send_email"

    confirmation = reviewer_client.post(url, across)
    page = confirmation.content.decode()
    assert "reject these 130 actions?" in page
    assert 'name="select_across" value="1"' in page
    assert 'name="_selected_action"' not in page  # not 130 hidden ids: "all" is re-applied

    response = reviewer_client.post(url, {**across, "post": "yes", "comment": ""})

    assert response.status_code == 302
    job = BackgroundJob.objects.get()
    assert job.total == 130 and other.public_id not in job.params["action_ids"]
    background_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.done) == ("succeeded", 130)
    other.refresh_from_db()
    assert other.status == ActionStatus.PENDING_APPROVAL


def test_actions_decided_meanwhile_are_the_jobs_errors(reviewer_client, pending, member):
    actions = pending(120)
    selected = {"action": "approve_selected", "_selected_action": [a.pk for a in actions]}
    reviewer_client.post(QUEUE, {**selected, "post": "yes"})
    job = BackgroundJob.objects.get()
    # Before the worker gets to them, someone else rejects two.
    for action in (actions[3], actions[110]):
        services.action_decide(action=action, actor=Actor.for_user(member), decision="reject")

    background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done, job.error_count) == ("succeeded", 120, 2)
    lines = "".join(background_job_errors_csv(job=job)).splitlines()
    assert lines[0] == "row,action,column,message"
    assert lines[1].startswith(f"4,{actions[3].public_id},,Already decided by someone else")
    assert "it is now rejected" in lines[1]
    assert lines[2].startswith(f"111,{actions[110].public_id},")
    errors = reviewer_client.get(f"{JOBS}{job.pk}/errors.csv")
    assert errors.status_code == 200


def test_a_reviewer_who_lost_the_permission_decides_nothing(reviewer_client, pending, reviewer):
    actions = pending(101)
    selected = {"action": "approve_selected", "_selected_action": [a.pk for a in actions]}
    reviewer_client.post(QUEUE, {**selected, "post": "yes"})
    job = BackgroundJob.objects.get()
    reviewer.user_permissions.clear()

    background_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.done) == ("failed", 0)
    assert "may no longer approve" in job.failure_message
    assert ApprovalDecision.objects.count() == 0
