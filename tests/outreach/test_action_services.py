"""The action state machine: every transition allowed and refused, the audit
trail, and two reviewers racing on PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from accounts.actors import Actor
from config.exceptions import InvalidTransition, ValidationFailed
from outreach import services
from outreach.models import Action, ActionStatus, ActionTransition, ApprovalDecision

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")


def decide(action, decision, **kw):
    return services.action_decide(action=action, actor=SYSTEM, decision=decision, **kw)


ALLOWED = {
    "approve": {ActionStatus.PENDING_APPROVAL},
    "reject": {ActionStatus.PENDING_APPROVAL},
    "edit": {ActionStatus.PENDING_APPROVAL},
    "cancel": {ActionStatus.PENDING_APPROVAL, ActionStatus.SCHEDULED},
    "execute": {ActionStatus.SCHEDULED},
}


def run(verb: str, action: Action) -> Action:
    if verb == "cancel":
        return services.action_cancel(action=action, actor=SYSTEM)
    if verb == "execute":
        return services.action_execute_now(action=action, actor=SYSTEM).action
    extra = {"params": {"subject": "edited"}} if verb == "edit" else {}
    return decide(action, verb, **extra)


@pytest.mark.parametrize("verb", sorted(ALLOWED))
@pytest.mark.parametrize("status", list(ActionStatus.values))
def test_each_transition_is_allowed_or_refused(make_action, verb, status):
    action = make_action()
    Action.objects.filter(pk=action.pk).update(status=status)
    action.refresh_from_db()
    before = ActionTransition.objects.count()
    if status in ALLOWED[verb]:
        result = run(verb, action)
        expected = {
            "approve": "scheduled",
            "edit": "scheduled",
            "reject": "rejected",
            "cancel": "cancelled",
            "execute": "scheduled",
        }[verb]
        assert result.status == expected
        assert ActionTransition.objects.count() == before + 1
    else:
        with pytest.raises(InvalidTransition):
            run(verb, action)
        action.refresh_from_db()
        assert action.status == status
        assert ActionTransition.objects.count() == before


def test_the_audit_trail_names_who_from_to_and_why(make_action, owner):
    action = make_action()
    services.action_decide(
        action=action, actor=Actor.for_user(owner), decision="approve", comment="ok"
    )
    services.action_cancel(action=action, actor=Actor.for_user(owner), reason="customer replied")
    trail = list(
        ActionTransition.objects.filter(action=action).values_list(
            "from_status", "to_status", "actor", "actor_label", "reason"
        )
    )
    label = f"admin:{owner.username}"
    assert trail == [
        ("", "pending_approval", owner.pk, label, "created"),
        ("pending_approval", "scheduled", owner.pk, label, "approve: ok"),
        ("scheduled", "cancelled", owner.pk, label, "customer replied"),
    ]


def test_a_null_in_an_edit_removes_an_optional_param(make_action):
    action = make_action(
        params={"to": "a@example.com", "subject": "s", "body": "b", "reply_to": "r@example.com"}
    )
    edited = decide(action, "edit", params={"reply_to": None})
    assert "reply_to" not in edited.params


def test_a_naive_time_is_refused(make_action):
    import datetime as dt

    with pytest.raises(ValidationFailed):
        make_action(scheduled_time=dt.datetime(2030, 1, 1, 9, 0))
    assert not Action.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_two_reviewers_deciding_at_once_exactly_one_wins(make_action, owner, member):
    for _ in range(10):  # a race is a race: run it several times
        action = make_action()
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def review(user, decision, action=action, barrier=barrier, outcomes=outcomes):
            try:
                copy = Action.objects.get(pk=action.pk)  # each reviewer read it as pending
                barrier.wait()
                services.action_decide(action=copy, actor=Actor.for_user(user), decision=decision)
                outcomes.append(decision)
            except InvalidTransition:
                outcomes.append("409")
            finally:
                connections.close_all()

        threads = [
            threading.Thread(target=review, args=(owner, "approve")),
            threading.Thread(target=review, args=(member, "reject")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) in (["409", "approve"], ["409", "reject"])
        winner = next(o for o in outcomes if o != "409")
        action.refresh_from_db()
        assert action.status == ("scheduled" if winner == "approve" else "rejected")
        assert ApprovalDecision.objects.filter(action=action).count() == 1
        assert ActionTransition.objects.filter(action=action).count() == 2


def test_a_decision_on_a_stale_version_is_refused(make_action):
    from config.exceptions import Conflict

    action = make_action()
    seen = action.updated_at
    from django.utils import timezone

    Action.objects.filter(pk=action.pk).update(
        params={**action.params, "subject": "changed"}, updated_at=timezone.now()
    )
    with pytest.raises(Conflict) as caught:
        decide(action, "approve", expected_updated_at=seen)
    assert caught.value.code == "action_changed"
    action.refresh_from_db()
    assert action.status == ActionStatus.PENDING_APPROVAL
    fresh = Action.objects.get(pk=action.pk)
    assert decide(fresh, "approve", expected_updated_at=fresh.updated_at).status == "scheduled"


def _race(first, second) -> list[str]:
    """Run two callables at the same instant, each on its own connection; each
    returns its outcome's name, an InvalidTransition counts as "409"."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(call) -> None:
        try:
            barrier.wait()
            outcomes.append(call())
        except InvalidTransition:
            outcomes.append("409")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(call,)) for call in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_a_reviewers_execute_and_a_reject_at_once_exactly_one_wins(
    make_action, owner, member, monkeypatch
):
    from outreach import tasks

    monkeypatch.setattr(tasks.dispatch_action, "delay", lambda action_id: None)
    for _ in range(10):  # a race is a race: run it several times
        action = make_action()
        # each read the action as pending before either decided
        seen_by_owner, seen_by_member = (Action.objects.get(pk=action.pk) for _ in range(2))

        def execute(copy=seen_by_owner) -> str:
            outcome = services.action_execute_now(
                action=copy, actor=Actor.for_user(owner), approve_pending=True
            )
            assert outcome.approved
            return "execute"

        def reject(copy=seen_by_member) -> str:
            services.action_decide(action=copy, actor=Actor.for_user(member), decision="reject")
            return "reject"

        outcomes = _race(execute, reject)
        assert sorted(outcomes) in (["409", "execute"], ["409", "reject"])
        winner = next(o for o in outcomes if o != "409")
        action.refresh_from_db()
        assert action.status == ("scheduled" if winner == "execute" else "rejected")
        decision = ApprovalDecision.objects.get(action=action)
        assert decision.decision == ("approve" if winner == "execute" else "reject")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_a_reviewers_execute_and_an_approve_at_once_approve_it_once(
    make_action, owner, member, monkeypatch
):
    from outreach import tasks

    monkeypatch.setattr(tasks.dispatch_action, "delay", lambda action_id: None)
    for _ in range(10):
        action = make_action()
        seen_by_owner, seen_by_member = (Action.objects.get(pk=action.pk) for _ in range(2))

        def execute(copy=seen_by_owner) -> str:
            outcome = services.action_execute_now(
                action=copy, actor=Actor.for_user(owner), approve_pending=True
            )
            # Approved by the other reviewer first, it is a scheduled action
            # that this call merely makes due now.
            return "execute+approve" if outcome.approved else "execute"

        def approve(copy=seen_by_member) -> str:
            services.action_decide(action=copy, actor=Actor.for_user(member), decision="approve")
            return "approve"

        outcomes = sorted(_race(execute, approve))
        assert outcomes in (["409", "execute+approve"], ["approve", "execute"])
        decision = ApprovalDecision.objects.get(action=action)
        assert decision.reviewer == (owner if "409" in outcomes else member)
        action.refresh_from_db()
        assert action.status == ActionStatus.SCHEDULED
