"""The admin index's dashboard: one JSON endpoint per chart
(outreach/admin/dashboard.py), each with known numbers for known rows, scoped to
the user's workspaces, refusing a bad range, and with a query count that does not
grow with the data.

Rows are written directly (`make_action_row`, decisions created then re-stamped) so
each test sets exactly the times it measures; times are whole hours before now, so
an action `k` hours old falls in the last bucket but `k`.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from outreach import selectors
from outreach.models import Action, ActionStatus, ApprovalDecision, FailureCode, Identity
from tests.admin_helpers import logged_in
from tests.factories import UserFactory, make_action_row, make_staff_member

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/outreach/action/dashboard/"
HOUR = dt.timedelta(hours=1)


def url(chart: str, range_: str | None = "24h") -> str:
    return f"{DASHBOARD}{chart}.json" + (f"?range={range_}" if range_ else "")


@pytest.fixture
def approve():
    return Permission.objects.get(content_type__app_label="outreach", codename="approve_action")


@pytest.fixture
def reviewer(workspace, approve):
    return make_staff_member(workspace, "rita@example.org", [approve])


@pytest.fixture
def client(reviewer):
    return logged_in(reviewer)


@pytest.fixture
def identity(workspace):
    return Identity.objects.create(workspace=workspace, channel="email", address="a@acme.test")


@pytest.fixture
def sms(workspace):
    return Identity.objects.create(workspace=workspace, channel="sms", address="+14155550100")


@pytest.fixture
def globex_identity(other_workspace):
    return Identity.objects.create(
        workspace=other_workspace, channel="email", address="ops@globex.test"
    )


def finished(identity, status, hours_ago: float, **fields) -> Action:
    """An action completed or failed `hours_ago` (its updated_at)."""
    when = timezone.now() - hours_ago * HOUR
    if status == ActionStatus.FAILED:
        fields.setdefault("failure_code", FailureCode.PROVIDER_REJECTED)
    return make_action_row(
        identity.workspace,
        identity,
        status=status,
        created_at=when - HOUR,
        updated_at=when,
        **fields,
    )


def pending(identity, hours_ago: float, due_in_hours: float = 24) -> Action:
    now = timezone.now()
    return make_action_row(
        identity.workspace,
        identity,
        status=ActionStatus.PENDING_APPROVAL,
        require_approval=True,
        scheduled_time=now + due_in_hours * HOUR,
        created_at=now - hours_ago * HOUR,
    )


def decided(
    identity, *, hours_ago: float, waited_minutes: float, by: str = "admin:rita", decision="approve"
) -> ApprovalDecision:
    """A decision `hours_ago` on an action created `waited_minutes` before it."""
    at = timezone.now() - hours_ago * HOUR
    action = make_action_row(
        identity.workspace,
        identity,
        status=ActionStatus.REJECTED if decision == "reject" else ActionStatus.SCHEDULED,
        require_approval=True,
        created_at=at - dt.timedelta(minutes=waited_minutes),
    )
    row = ApprovalDecision.objects.create(
        workspace=identity.workspace, action=action, decision=decision, reviewer_label=by
    )
    ApprovalDecision.objects.filter(pk=row.pk).update(created_at=at)
    return row


def get(client, chart: str, range_: str = "24h") -> dict:
    response = client.get(url(chart, range_))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


# --- (a) completed and failed per hour, by type -------------------------------------
def test_activity_counts_completed_and_failed_per_hour_by_type(
    client, identity, sms, globex_identity
):
    finished(identity, ActionStatus.COMPLETED, 1)
    finished(identity, ActionStatus.COMPLETED, 1)
    finished(identity, ActionStatus.FAILED, 3)
    finished(sms, ActionStatus.FAILED, 1, type="send_sms")
    finished(identity, ActionStatus.COMPLETED, 30, type="task")  # in 7 days only
    finished(identity, ActionStatus.COMPLETED, 8 * 24 + 2)  # in neither range
    make_action_row(identity.workspace, identity)  # scheduled: not finished
    finished(globex_identity, ActionStatus.COMPLETED, 1)  # another workspace

    day = get(client, "activity")
    assert len(day["buckets"]) == 24
    assert (
        day["buckets"][-1]
        == timezone.now().astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0).isoformat()
    )
    series = {s["type"]: s for s in day["series"]}
    assert set(series) == {"send_email", "send_sms"}
    assert series["send_email"]["label"] == "Send email"
    assert series["send_email"]["completed"][22] == 2
    assert sum(series["send_email"]["completed"]) == 2
    assert series["send_email"]["failed"][20] == 1
    assert series["send_sms"]["failed"][22] == 1
    assert day["totals"] == {"completed": 2, "failed": 2}
    assert day["timezone"] == "Europe/Amsterdam"  # the reviewer's workspace's zone

    week = get(client, "activity", "7d")
    assert len(week["buckets"]) == 168
    series = {s["type"]: s for s in week["series"]}
    assert series["task"]["completed"][167 - 30] == 1
    assert week["totals"] == {"completed": 3, "failed": 2}


# --- (b) the approval queue and the time to decision --------------------------------
def test_queue_depth_and_median_time_to_decision(client, identity, globex_identity):
    pending(identity, 2)
    pending(identity, 5)
    pending(identity, 1, due_in_hours=-1)  # overdue
    pending(globex_identity, 1, due_in_hours=-1)  # another workspace's
    for minutes in (10, 30, 60, 120):
        decided(identity, hours_ago=2, waited_minutes=minutes)
    decided(identity, hours_ago=72, waited_minutes=1000)  # in 7 days only
    decided(globex_identity, hours_ago=2, waited_minutes=1)

    day = get(client, "queue")
    assert (day["depth"], day["overdue"], day["decided"]) == (3, 1, 4)
    assert day["median_seconds"] == pytest.approx(45 * 60)  # between 30 and 60 minutes
    assert day["url"] == "/admin/outreach/pendingapproval/"

    week = get(client, "queue", "7d")
    assert week["decided"] == 5
    assert week["median_seconds"] == pytest.approx(60 * 60)


def test_queue_without_decisions_has_no_median(client, identity):
    day = get(client, "queue")
    assert day == {**day, "depth": 0, "overdue": 0, "decided": 0, "median_seconds": None}


# --- (c) decisions per reviewer -----------------------------------------------------
def test_decisions_per_reviewer(client, identity, globex_identity):
    for decision in ("approve", "approve", "edit", "reject"):
        decided(identity, hours_ago=1, waited_minutes=5, by="admin:rita", decision=decision)
    decided(identity, hours_ago=1, waited_minutes=5, by="admin:sam", decision="reject")
    decided(identity, hours_ago=50, waited_minutes=5, by="admin:tom")  # in 7 days only
    decided(globex_identity, hours_ago=1, waited_minutes=5, by="admin:globex-reviewer")

    day = get(client, "reviewers")
    assert day["reviewers"] == [
        {"reviewer": "admin:rita", "approved": 3, "rejected": 1},
        {"reviewer": "admin:sam", "approved": 0, "rejected": 1},
    ]
    week = get(client, "reviewers", "7d")
    assert [r["reviewer"] for r in week["reviewers"]] == ["admin:rita", "admin:sam", "admin:tom"]


def test_decisions_per_reviewer_are_bounded(client, identity):
    for i in range(selectors.DASHBOARD_TOP_REVIEWERS + 3):
        for _ in range(1 + i % 2):
            decided(identity, hours_ago=1, waited_minutes=1, by=f"admin:r{i:02d}")
    rows = get(client, "reviewers")["reviewers"]
    assert len(rows) == selectors.DASHBOARD_TOP_REVIEWERS
    assert all(r["approved"] == 2 for r in rows[:6])  # the busiest first


# --- (d) the oldest waiting action --------------------------------------------------
def test_oldest_waiting_action_links_to_its_review_page(client, identity, globex_identity):
    pending(identity, 2)
    oldest = pending(identity, 5)
    pending(globex_identity, 50)  # older, but another workspace's

    action = get(client, "oldest")["action"]
    assert action["public_id"] == oldest.public_id
    assert action["url"] == f"/admin/outreach/pendingapproval/{oldest.pk}/change/"
    assert action["workspace"] == "Acme"
    assert action["waiting_seconds"] == pytest.approx(5 * 3600, abs=60)
    assert client.get(action["url"]).status_code == 200  # the review page opens


def test_no_oldest_waiting_action_when_the_queue_is_empty(client, identity):
    assert get(client, "oldest")["action"] is None


# --- (e) failures by failure code ---------------------------------------------------
def test_failures_by_code(client, identity, globex_identity):
    finished(identity, ActionStatus.FAILED, 1, failure_code=FailureCode.SUPPRESSED)
    finished(identity, ActionStatus.FAILED, 2, failure_code=FailureCode.SUPPRESSED)
    finished(identity, ActionStatus.FAILED, 3, failure_code=FailureCode.GAVE_UP)
    finished(identity, ActionStatus.FAILED, 40, failure_code=FailureCode.INVALID_RECIPIENT)
    finished(globex_identity, ActionStatus.FAILED, 1, failure_code=FailureCode.OTHER)

    assert get(client, "failures")["failures"] == [
        {"code": "suppressed", "label": "Contact suppressed", "count": 2},
        {"code": "gave_up", "label": "Gave up after retries", "count": 1},
    ]
    week = get(client, "failures", "7d")["failures"]
    assert {f["code"]: f["count"] for f in week} == {
        "suppressed": 2,
        "gave_up": 1,
        "invalid_recipient": 1,
    }


# --- scoping, permissions, the range ------------------------------------------------
def seed_everything(identity) -> None:
    finished(identity, ActionStatus.COMPLETED, 1)
    finished(identity, ActionStatus.FAILED, 2, failure_code=FailureCode.SUPPRESSED)
    pending(identity, 3, due_in_hours=-1)
    decided(identity, hours_ago=1, waited_minutes=15)


def test_outsider_staff_sees_none_of_the_workspace(identity, other_workspace, approve):
    seed_everything(identity)
    outsider = logged_in(make_staff_member(other_workspace, "olga@globex.test", [approve]))
    for range_ in ("24h", "7d"):
        assert get(outsider, "activity", range_)["series"] == []
        queue = get(outsider, "queue", range_)
        assert (queue["depth"], queue["overdue"], queue["decided"]) == (0, 0, 0)
        assert get(outsider, "reviewers", range_)["reviewers"] == []
        assert get(outsider, "oldest", range_)["action"] is None
        assert get(outsider, "failures", range_)["failures"] == []


def test_superuser_sees_every_workspace(identity, globex_identity):
    seed_everything(identity)
    seed_everything(globex_identity)
    admin = logged_in(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert get(admin, "activity")["totals"] == {"completed": 2, "failed": 2}
    assert get(admin, "queue")["depth"] == 2
    assert get(admin, "failures")["failures"][0]["count"] == 2


def test_staff_who_may_not_see_actions_get_403_and_no_dashboard(workspace, identity):
    seed_everything(identity)
    clerk = logged_in(make_staff_member(workspace, "clerk@acme.test", [], role=Role.MEMBER))
    for chart in ("activity", "queue", "reviewers", "oldest", "failures"):
        assert clerk.get(url(chart)).status_code == 403
    index = clerk.get("/admin/")
    assert index.status_code == 200
    assert b"outreach-dashboard" not in index.content


def test_the_index_offers_the_dashboard_from_static_files(client):
    index = client.get("/admin/")
    page = index.content.decode()
    assert 'id="outreach-dashboard"' in page
    assert "outreach/dashboard.js" in page
    assert "outreach/dashboard.css" in page
    assert "http://" not in page.split('id="outreach-dashboard"')[1].split("</script>")[0]
    assert f'"activity": "{DASHBOARD}activity.json"' in page


def test_login_is_required(db):
    from django.test import Client

    response = Client().get(url("activity"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("range_", ["1h", "30d", "", "24H"])
def test_a_bad_range_is_400(client, range_):
    response = client.get(f"{DASHBOARD}activity.json?range={range_}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_range"


def test_range_defaults_to_24_hours_and_an_unknown_chart_is_404(client):
    assert get(client, "failures", "24h")["range"] == "24h"
    assert client.get(url("activity", None)).json()["range"] == "24h"
    assert client.get(url("nonsense")).status_code == 404


# --- constant query counts ----------------------------------------------------------
CHART_QUERIES = {"activity": 2, "queue": 3, "reviewers": 1, "oldest": 1, "failures": 1}


def seed_many(identity, sms, n: int) -> None:
    for i in range(n):
        finished(identity, ActionStatus.COMPLETED, 1 + i % 30)
        finished(sms, ActionStatus.FAILED, 2 + i % 20, type="send_sms")
        finished(identity, ActionStatus.COMPLETED, 3 + i % 7, type="task")
        pending(identity, 1 + i % 9, due_in_hours=(-1) ** i)
        decided(identity, hours_ago=1 + i % 50, waited_minutes=5 + i, by=f"admin:r{i % 12}")


@pytest.mark.parametrize("chart", sorted(CHART_QUERIES))
def test_query_counts_do_not_grow_with_the_data(
    chart, client, identity, sms, django_assert_num_queries
):
    seed_many(identity, sms, 1)
    client.get(url(chart))  # the session and the user, as every later request
    with CaptureQueriesContext(connection) as one:
        assert client.get(url(chart, "7d")).status_code == 200
    seed_many(identity, sms, 25)
    with django_assert_num_queries(len(one.captured_queries)):
        assert client.get(url(chart, "7d")).status_code == 200
    with django_assert_num_queries(len(one.captured_queries)):
        assert client.get(url(chart, "24h")).status_code == 200


@pytest.mark.parametrize("chart", sorted(CHART_QUERIES))
def test_each_chart_reads_in_a_fixed_number_of_queries(
    chart, identity, sms, reviewer, rf, django_assert_num_queries
):
    """The chart's own queries (the view minus the admin's session and user look-ups)."""
    from outreach.admin import dashboard

    seed_many(identity, sms, 10)
    request = rf.get(url(chart))
    request.user = reviewer
    dashboard.may_see_dashboard(request)  # the user's permissions, cached on the user
    with django_assert_num_queries(CHART_QUERIES[chart]):
        response = dashboard.chart_view(request, chart)
    assert response.status_code == 200
