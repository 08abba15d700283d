"""retrieve, execute, cancel, approve and bulk approve on /v1/actions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Scope
from outreach.models import Action, ActionStatus, ActionTransition, ApprovalDecision
from outreach.services import action_cancel, action_decide

pytestmark = pytest.mark.django_db


def post(client, path, body=None):
    return client.post(path, body or {}, format="json")


def test_retrieve_returns_the_full_action_with_its_decisions(owner_client, make_action):
    action = make_action()
    post(
        owner_client,
        f"/v1/actions/{action.public_id}/approve",
        {"action": "approve", "comment": "fine"},
    )
    response = owner_client.get(f"/v1/actions/{action.public_id}")
    assert response.status_code == 200
    body = response.json()["action"]
    assert body["id"] == action.public_id
    assert body["status"] == "scheduled"
    assert body["summary"] == "Email to contact@example.com"
    assert [d["decision"] for d in body["decisions"]] == ["approve"]
    assert body["decisions"][0]["comment"] == "fine"


def test_an_unknown_or_foreign_action_is_404(owner_client, outsider_client, make_action):
    action = make_action()
    for path in ["", "/execute", "/cancel", "/approve"]:
        method = outsider_client.get if path == "" else outsider_client.post
        response = method(
            f"/v1/actions/{action.public_id}{path}", {"action": "approve"}, format="json"
        )
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    assert owner_client.get("/v1/actions/act_0000000000000000").status_code == 404
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_approve_schedules_and_records_the_decision(owner_client, make_action, owner):
    action = make_action()
    response = post(
        owner_client,
        f"/v1/actions/{action.public_id}/approve",
        {"action": "approve", "comment": "Looks good"},
    )
    assert response.status_code == 200
    assert response.json()["action"]["status"] == "scheduled"
    decision = ApprovalDecision.objects.get(action=action)
    assert (decision.decision, decision.comment, decision.reviewer) == (
        "approve",
        "Looks good",
        owner,
    )
    assert decision.reviewer_api_key is not None
    assert decision.params_before == decision.params_after == action.params
    trail = list(
        ActionTransition.objects.filter(action=action).values_list("from_status", "to_status")
    )
    assert trail == [("", "pending_approval"), ("pending_approval", "scheduled")]


def test_reject_records_the_comment(owner_client, make_action):
    action = make_action()
    response = post(
        owner_client,
        f"/v1/actions/{action.public_id}/approve",
        {"action": "reject", "comment": "Wrong person"},
    )
    assert response.json()["action"]["status"] == "rejected"
    assert ApprovalDecision.objects.get(action=action).comment == "Wrong person"
    assert ActionTransition.objects.filter(action=action).last().reason == "reject: Wrong person"


def test_edit_merges_params_moves_the_time_and_approves(owner_client, make_action):
    action = make_action()
    response = post(
        owner_client,
        f"/v1/actions/{action.public_id}/approve",
        {
            "action": "edit",
            "comment": "Friendlier subject",
            "params": {"subject": "Hello Ada", "cc": ["boss@example.com"]},
            "scheduled_time": "2030-03-01T09:00:00-05:00",
        },
    )
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert action.params == {
        "to": "contact@example.com",
        "subject": "Hello Ada",
        "body": "Hi there!",
        "cc": ["boss@example.com"],
    }
    assert action.scheduled_time.isoformat() == "2030-03-01T14:00:00+00:00"
    decision = ApprovalDecision.objects.get(action=action)
    assert decision.params_before["subject"] == "Hello"
    assert decision.params_after["subject"] == "Hello Ada"
    assert decision.scheduled_time_after == action.scheduled_time


def test_an_invalid_edit_is_400_and_changes_nothing(owner_client, make_action):
    action = make_action()
    response = post(
        owner_client,
        f"/v1/actions/{action.public_id}/approve",
        {"action": "edit", "params": {"to": "nobody", "subject": None}},
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"params.to", "params.subject"}
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL
    assert action.params["to"] == "contact@example.com"
    assert not ApprovalDecision.objects.exists()


def test_edit_without_changes_and_approve_with_params_are_400(owner_client, make_action):
    action = make_action()
    assert (
        post(
            owner_client, f"/v1/actions/{action.public_id}/approve", {"action": "edit"}
        ).status_code
        == 400
    )
    response = post(
        owner_client,
        f"/v1/actions/{action.public_id}/approve",
        {"action": "approve", "params": {"subject": "x"}},
    )
    assert response.status_code == 400
    response = post(owner_client, f"/v1/actions/{action.public_id}/approve", {"action": "maybe"})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"action"}


@pytest.mark.parametrize("decision", ["approve", "reject", "edit"])
def test_deciding_an_action_not_pending_is_409_and_changes_nothing(
    owner_client, make_action, decision
):
    action = make_action()
    action_decide(action=action, actor=Actor.system("test"), decision="reject")
    body = {"action": decision}
    if decision == "edit":
        body["params"] = {"subject": "x"}
    response = post(owner_client, f"/v1/actions/{action.public_id}/approve", body)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    action.refresh_from_db()
    assert action.status == ActionStatus.REJECTED
    assert ApprovalDecision.objects.count() == 1


def test_approving_needs_the_approve_scope(client_for, owner, workspace, make_action):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ, Scope.ACTIONS_WRITE])
    action = make_action()
    response = post(client, f"/v1/actions/{action.public_id}/approve", {"action": "approve"})
    assert response.status_code == 403
    response = post(
        client, "/v1/actions/approve/bulk", {"action": "approve", "action_ids": [action.public_id]}
    )
    assert response.status_code == 403


def test_cancel_from_pending_or_scheduled(owner_client, make_action):
    pending = make_action()
    scheduled = make_action(require_approval=False)
    for action in (pending, scheduled):
        response = post(owner_client, f"/v1/actions/{action.public_id}/cancel")
        assert response.status_code == 200
        assert response.json()["action"]["status"] == "cancelled"


@pytest.mark.parametrize("final", ["cancelled", "rejected", "completed", "failed", "processing"])
def test_cancel_is_409_once_past_scheduling(owner_client, make_action, final):
    action = make_action()
    Action.objects.filter(pk=action.pk).update(status=final)
    response = post(owner_client, f"/v1/actions/{action.public_id}/cancel")
    assert response.status_code == 409
    action.refresh_from_db()
    assert action.status == final


def test_execute_makes_a_scheduled_action_due_now(owner_client, make_action):
    action = make_action(require_approval=False, scheduled_time=timezone.now().replace(year=2031))
    response = post(owner_client, f"/v1/actions/{action.public_id}/execute")
    assert response.status_code == 200
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert action.direct
    assert action.scheduled_time <= timezone.now()


def test_execute_never_bypasses_approval_without_the_approve_scope(
    client_for, owner, workspace, make_action
):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ, Scope.ACTIONS_WRITE])
    action = make_action()
    response = post(client, f"/v1/actions/{action.public_id}/execute")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "approval_required"
    assert "actions:approve" in error["message"]
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL
    assert not ApprovalDecision.objects.exists()


def test_a_direct_action_is_due_now_once_approved(owner_client, make_action):
    action = make_action(direct=True)
    later = timezone.now()
    post(owner_client, f"/v1/actions/{action.public_id}/approve", {"action": "approve"})
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert action.scheduled_time >= later


def test_execute_is_409_for_a_cancelled_action(owner_client, make_action):
    action = make_action(require_approval=False)
    action_cancel(action=action, actor=Actor.system("test"))
    assert post(owner_client, f"/v1/actions/{action.public_id}/execute").status_code == 409


def test_bulk_approve_reports_each_id(owner_client, outsider, other_workspace, make_action):
    ok1, ok2 = make_action(), make_action()
    done = make_action()
    action_decide(action=done, actor=Actor.system("test"), decision="approve")
    response = post(
        owner_client,
        "/v1/actions/approve/bulk",
        {
            "action": "approve",
            "comment": "batch",
            "action_ids": [
                ok1.public_id,
                done.public_id,
                "act_doesnotexist00",
                ok2.public_id,
                ok1.public_id,
            ],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 2)
    by_id = {r["action_id"]: r for r in body["results"]}
    assert by_id[ok1.public_id] == {
        "action_id": ok1.public_id,
        "status": "success",
        "action_status": "scheduled",
    }
    assert by_id[done.public_id]["error"]["code"] == "invalid_transition"
    assert by_id["act_doesnotexist00"]["error"]["code"] == "not_found"
    assert Action.objects.filter(status=ActionStatus.SCHEDULED).count() == 3
    assert ApprovalDecision.objects.filter(comment="batch").count() == 2


def test_bulk_cannot_touch_another_workspaces_actions(outsider_client, make_action):
    action = make_action()
    response = post(
        outsider_client,
        "/v1/actions/approve/bulk",
        {"action": "reject", "action_ids": [action.public_id]},
    )
    assert response.json()["results"][0]["error"]["code"] == "not_found"
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_bulk_takes_at_most_500_ids(owner_client):
    ids = [f"act_{n:016x}" for n in range(501)]
    response = post(
        owner_client, "/v1/actions/approve/bulk", {"action": "approve", "action_ids": ids}
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"action_ids"}
    response = post(
        owner_client, "/v1/actions/approve/bulk", {"action": "approve", "action_ids": []}
    )
    assert response.status_code == 400


def test_an_edit_to_a_time_offset_beyond_15_59_is_a_400_and_changes_nothing(
    owner_client, make_action
):
    action = make_action()
    response = post(
        owner_client,
        f"/v1/actions/{action.public_id}/approve",
        {"action": "edit", "scheduled_time": "2030-03-01T09:00:00+16:00"},
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["scheduled_time"]
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL
    assert not ApprovalDecision.objects.exists()


# --- execute on a pending action (issue 12, item 7) --------------------------------
@pytest.fixture
def dispatched(monkeypatch) -> list[int]:
    """The ids handed to dispatch_action (executed at once) after commit."""
    from outreach import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.dispatch_action, "delay", sent.append)
    return sent


def test_a_reviewers_execute_approves_and_executes_a_pending_action_at_once(
    owner_client, make_action, owner, dispatched, django_capture_on_commit_callbacks
):
    action = make_action(scheduled_time=timezone.now().replace(year=2031))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(owner_client, f"/v1/actions/{action.public_id}/execute")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["approved"] is True
    assert body["action"]["status"] == "scheduled"
    assert [d["decision"] for d in body["action"]["decisions"]] == ["approve"]
    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert action.direct
    assert action.scheduled_time <= timezone.now()
    assert dispatched == [action.pk]
    decision = ApprovalDecision.objects.get(action=action)
    assert (decision.decision, decision.reviewer, decision.comment) == (
        "approve",
        owner,
        "approved by execute",
    )
    assert decision.reviewer_api_key is not None
    assert decision.scheduled_time_before.year == 2031
    assert decision.scheduled_time_after == action.scheduled_time
    trail = list(
        ActionTransition.objects.filter(action=action)
        .order_by("id")
        .values_list("from_status", "to_status", "reason")
    )
    assert trail == [
        ("", "pending_approval", "created"),
        ("pending_approval", "scheduled", "approve: approved by execute"),
        ("scheduled", "scheduled", "execute: due now"),
    ]


def test_a_reviewers_execute_records_its_comment_with_the_approval(owner_client, make_action):
    action = make_action()
    response = post(
        owner_client, f"/v1/actions/{action.public_id}/execute", {"comment": "send it now"}
    )
    assert response.status_code == 200
    assert ApprovalDecision.objects.get(action=action).comment == "send it now"


def test_execute_on_a_scheduled_action_approves_nothing(owner_client, make_action):
    action = make_action(require_approval=False)
    response = post(owner_client, f"/v1/actions/{action.public_id}/execute")
    assert response.status_code == 200
    assert response.json()["approved"] is False
    assert not ApprovalDecision.objects.exists()


def test_a_reviewers_execute_is_409_for_a_rejected_action(owner_client, make_action):
    action = make_action()
    action_decide(action=action, actor=Actor.system("test"), decision="reject")
    response = post(owner_client, f"/v1/actions/{action.public_id}/execute")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    action.refresh_from_db()
    assert action.status == ActionStatus.REJECTED
    assert ApprovalDecision.objects.count() == 1


def test_execute_replays_its_first_response_for_the_same_idempotency_key(owner_client, make_action):
    action = make_action()
    path = f"/v1/actions/{action.public_id}/execute"
    first = owner_client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="exec-1")
    again = owner_client.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="exec-1")
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["approved"] is True
    assert ApprovalDecision.objects.filter(action=action).count() == 1
    assert ActionTransition.objects.filter(action=action).count() == 3


# --- bulk edit (issue 12, item 7) --------------------------------------------------
def bulk(client, body):
    return post(client, "/v1/actions/approve/bulk", body)


def test_bulk_edit_applies_each_items_own_changes_and_approves(owner_client, make_action):
    first, second = make_action(), make_action()
    response = bulk(
        owner_client,
        {
            "action": "edit",
            "comment": "Friendlier",
            "items": [
                {"action_id": first.public_id, "params": {"subject": "Hello Ada"}},
                {"action_id": second.public_id, "scheduled_time": "2030-03-01T09:00:00-05:00"},
            ],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (2, 0)
    assert [r["action_id"] for r in body["results"]] == [first.public_id, second.public_id]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (ActionStatus.SCHEDULED, ActionStatus.SCHEDULED)
    assert first.params["subject"] == "Hello Ada"
    assert second.params["subject"] == "Hello"
    assert second.scheduled_time.isoformat() == "2030-03-01T14:00:00+00:00"
    decisions = ApprovalDecision.objects.filter(decision="edit", comment="Friendlier")
    assert decisions.count() == 2


def test_bulk_edit_names_every_bad_item_field_and_changes_nothing(
    owner_client, make_action, sms_identity
):
    sms_params = {"recipient_phone": "+14155550101", "message": "Hi"}
    email, other = make_action(), make_action()
    sms, sms2 = (
        make_action(type="send_sms", identity=sms_identity, params=dict(sms_params))
        for _ in range(2)
    )
    response = bulk(
        owner_client,
        {
            "action": "edit",
            "items": [
                {"action_id": email.public_id, "params": {"subject": None}},
                {"action_id": other.public_id, "params": {"subject": "fine"}},
                # `to` is an email's field, not an SMS's: checked per type
                {"action_id": sms.public_id, "params": {"to": "a@example.com"}},
                {"action_id": sms2.public_id, "params": {"recipient_phone": "nope"}},
            ],
        },
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {
        "items[0].params.subject",
        "items[2].params.to",
        "items[3].params.recipient_phone",
    }
    assert not ApprovalDecision.objects.exists()
    assert not Action.objects.exclude(status=ActionStatus.PENDING_APPROVAL).exists()
    other.refresh_from_db()
    assert other.params["subject"] == "Hello"


def test_bulk_edit_reports_unknown_and_decided_ids_in_their_own_results(owner_client, make_action):
    pending, decided = make_action(), make_action()
    action_decide(action=decided, actor=Actor.system("test"), decision="reject")
    response = bulk(
        owner_client,
        {
            "action": "edit",
            "items": [
                {"action_id": "act_doesnotexist00", "params": {"subject": "x"}},
                {"action_id": decided.public_id, "params": {"subject": "x"}},
                {"action_id": pending.public_id, "params": {"subject": "x"}},
            ],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (1, 2)
    codes = [r.get("error", {}).get("code") for r in body["results"]]
    assert codes == ["not_found", "invalid_transition", None]
    pending.refresh_from_db()
    assert pending.params["subject"] == "x"


def test_the_seeds_bulk_edit_body_is_a_400_saying_what_an_edit_needs(owner_client, make_action):
    action = make_action()
    response = bulk(
        owner_client, {"action": "edit", "action_ids": [action.public_id], "comment": "x"}
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"items"}
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_bulk_edit_with_shared_changes_applies_them_to_each_id(owner_client, make_action):
    first, second = make_action(), make_action()
    response = bulk(
        owner_client,
        {
            "action": "edit",
            "action_ids": [first.public_id, second.public_id],
            "scheduled_time": "2030-03-01T09:00:00Z",
        },
    )
    assert response.json()["succeeded"] == 2
    assert set(
        Action.objects.filter(pk__in=[first.pk, second.pk]).values_list("scheduled_time", flat=True)
    ) == {dt.datetime(2030, 3, 1, 9, tzinfo=dt.UTC)}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"action": "approve", "items": [{"action_id": "act_x", "params": {}}]}, {"items"}),
        ({"action": "edit", "items": [{"action_id": "act_x"}]}, {"items[0].params"}),
        (
            {"action": "edit", "items": [{"action_id": "act_x", "params": {"a": 1}}] * 2},
            {"items[1].action_id"},
        ),
        (
            {
                "action": "edit",
                "action_ids": ["act_x"],
                "items": [{"action_id": "act_x", "params": {"a": 1}}],
            },
            {"items"},
        ),
        (
            {
                "action": "edit",
                "params": {"subject": "x"},
                "items": [{"action_id": "act_x", "params": {"a": 1}}],
            },
            {"params"},
        ),
        ({"action": "edit", "items": []}, {"items"}),
        ({"action": "approve"}, {"action_ids"}),
        ({"action": "approve", "action_ids": ["act_x"], "params": {"a": 1}}, {"action"}),
        (
            {"action": "edit", "items": [{"action_id": "act_x", "scheduled_time": "soon"}]},
            {"items[0].scheduled_time"},
        ),
    ],
)
def test_a_malformed_bulk_body_is_a_400_naming_the_field(owner_client, body, fields):
    response = bulk(owner_client, body)
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == fields


def test_bulk_edit_takes_at_most_500_items(owner_client):
    items = [{"action_id": f"act_{n:016x}", "params": {"subject": "x"}} for n in range(501)]
    response = bulk(owner_client, {"action": "edit", "items": items})
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"items"}


def test_the_schema_documents_execute_and_the_bulk_edit_items(client):
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    bulk_body = schema["paths"]["/v1/actions/approve/bulk"]["post"]["requestBody"]
    ref = bulk_body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "items" in components[ref]["properties"]
    assert "required" not in components[ref] or "action_ids" not in components[ref]["required"]
    execute = schema["paths"]["/v1/actions/{action_id}/execute"]["post"]
    assert "actions:approve" in execute["description"]
    ok_ref = execute["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert "approved" in components[ok_ref.rsplit("/", 1)[-1]]["properties"]
