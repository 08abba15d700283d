"""outreach.transitions: the one place a status change is recorded and a lease
released (audit row, log line, timeline event, `action_finished`)."""

from __future__ import annotations

import ast
import datetime as dt
import logging
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.actors import Actor
from contacts.models import ContactEvent
from outreach import receivers, services
from outreach.execution import action_claim_due
from outreach.models import Action, ActionStatus, ActionTransition
from outreach.params import summary_of
from outreach.signals import action_finished
from outreach.transitions import Change, lease_release, transition_record, transitions_record

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("test")
SMS = {"recipient_phone": "+14155551234", "message": "Your appointment is in 1 hour!"}


@pytest.fixture
def finished(request):
    """Every action_finished sent while the test runs: (action id, kwargs)."""
    sent: list[tuple[int, dict]] = []

    def listen(sender, action, **kwargs):
        assert sender is Action
        sent.append((action.pk, kwargs))

    action_finished.connect(listen, weak=False, dispatch_uid="test-transitions-listen")
    request.addfinalizer(lambda: action_finished.disconnect(dispatch_uid="test-transitions-listen"))
    return sent


@pytest.fixture
def scheduled_sms(make_action, sms_identity, make_contact):
    def make():
        make_contact("jane@example.com", phone="+14155551234")
        return make_action(
            type="send_sms", identity=sms_identity, params=dict(SMS), require_approval=False
        )

    return make


def test_it_writes_the_audit_row_and_the_log_line(make_action, caplog):
    action = make_action()
    action.status = ActionStatus.SCHEDULED
    action.save()
    with caplog.at_level(logging.INFO, logger="outreach.actions"):
        row = transition_record(
            action, from_status=ActionStatus.PENDING_APPROVAL, actor=SYSTEM, reason="why"
        )

    stored = ActionTransition.objects.get(pk=row.pk)
    assert (stored.action_id, stored.workspace_id) == (action.pk, action.workspace_id)
    assert (stored.from_status, stored.to_status) == ("pending_approval", "scheduled")
    assert (stored.actor_label, stored.reason) == ("system:test", "why")
    assert (
        f"action_transition action={action.public_id} type=send_email from=pending_approval "
        "to=scheduled actor=system:test reason='why'"
    ) in caplog.text


def test_a_final_status_goes_into_the_contacts_timeline_and_sends_the_signal_once(
    scheduled_sms, finished
):
    action = scheduled_sms()
    assert action.contact is not None
    assert finished == []  # created: not final

    cancelled = services.action_cancel(action=action, actor=SYSTEM, reason="not needed")

    [event] = ContactEvent.objects.filter(contact=action.contact, type="action.cancelled")
    assert event.data == {
        "action_id": action.public_id,
        "action_type": "send_sms",
        "summary": summary_of("send_sms", cancelled.params),
        "reason": "not needed",
    }
    expected = {"from_status": "scheduled", "actor": SYSTEM, "reason": "not needed"}
    assert finished == [(action.pk, {"signal": action_finished, **expected})]


def test_a_status_that_is_not_final_adds_no_event_and_sends_nothing(scheduled_sms, finished):
    action = scheduled_sms()
    [claim] = action_claim_due(limit=1, action_ids=[action.pk])
    locked = Action.objects.get(pk=claim.action_id)
    with transaction.atomic():
        lease_release(locked, status=ActionStatus.SCHEDULED, actor=SYSTEM, reason="deferred")
    assert finished == []
    assert not ContactEvent.objects.filter(type__startswith="action.").exists()


def test_a_receiver_that_raises_rolls_the_transition_back(scheduled_sms):
    action = scheduled_sms()

    def refuse(sender, action, **kwargs):
        raise RuntimeError("the receiver failed")

    action_finished.connect(refuse, dispatch_uid="test-transitions-refuse")
    try:
        with pytest.raises(RuntimeError, match="the receiver failed"):
            services.action_cancel(action=action, actor=SYSTEM)
    finally:
        action_finished.disconnect(dispatch_uid="test-transitions-refuse")

    action.refresh_from_db()
    assert action.status == ActionStatus.SCHEDULED
    assert not ActionTransition.objects.filter(action=action, to_status="cancelled").exists()
    assert not ContactEvent.objects.filter(type="action.cancelled").exists()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction(make_action):
    action = make_action()
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        transition_record(action, from_status="", actor=SYSTEM)


def test_lease_release_sets_the_fields_clears_the_lease_and_records_from_the_old_status(
    scheduled_sms, finished
):
    action = scheduled_sms()
    [claim] = action_claim_due(limit=1, action_ids=[action.pk])
    locked = Action.objects.get(pk=claim.action_id)
    assert locked.lease_token is not None and locked.lease_expires_at is not None
    later = timezone.now() + dt.timedelta(hours=1)

    with transaction.atomic():
        lease_release(
            locked,
            status=ActionStatus.FAILED,
            actor=SYSTEM,
            reason="no",
            error_message="no",
            failure_code="other",
            scheduled_time=later,
        )

    stored = Action.objects.get(pk=action.pk)
    assert (stored.status, stored.error_message, stored.failure_code) == ("failed", "no", "other")
    assert stored.scheduled_time == later
    assert stored.lease_token is None and stored.lease_expires_at is None
    last = ActionTransition.objects.filter(action=action).latest("id")
    assert (last.from_status, last.to_status, last.reason) == ("processing", "failed", "no")
    assert [pk for pk, _ in finished] == [action.pk]
    assert ContactEvent.objects.filter(type="action.failed").count() == 1


def test_many_transitions_are_one_insert(make_action, django_assert_num_queries):
    actions = [make_action() for _ in range(20)]
    for action in actions:
        action.status = ActionStatus.SCHEDULED
    with transaction.atomic(), django_assert_num_queries(1):
        rows = transitions_record(
            [Change(a, ActionStatus.PENDING_APPROVAL, "bulk") for a in actions], actor=SYSTEM
        )
    assert len(rows) == 20
    assert ActionTransition.objects.filter(reason="bulk").count() == 20


def test_the_cadence_receiver_is_connected_to_action_finished():
    connected = action_finished.disconnect(receivers.on_action_finished)
    action_finished.connect(receivers.on_action_finished)
    assert connected


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_services_cadences_execution_and_tasks_import_one_way():
    """No import cycle among them, at any depth of the files (a function-level
    import counts): services never reaches cadences, execution never reaches
    services or tasks."""
    root = Path(__file__).resolve().parents[2] / "outreach"
    # module -> (its files, the dotted names that mean it): the actions and identity
    # services are "services"; the cadence services (outreach/services/cadences.py)
    # are "cadences".
    modules = {
        "services": (
            [root / "services" / "actions.py", root / "services" / "identities.py"],
            ["outreach.services.actions", "outreach.services.identities"],
        ),
        "cadences": ([root / "services" / "cadences.py"], ["outreach.services.cadences"]),
        "execution": (sorted((root / "execution").glob("*.py")), ["outreach.execution"]),
        "tasks": ([root / "tasks.py"], ["outreach.tasks"]),
        "transitions": ([root / "transitions.py"], ["outreach.transitions"]),
        "receivers": ([root / "receivers.py"], ["outreach.receivers"]),
    }
    # `from outreach.services import x` reaches the package's __init__, which
    # imports the actions and identity services.
    aliases = {"outreach.services": "outreach.services.actions"}

    def imports_of(module: str) -> set[str]:
        imported = set().union(*(_imports(path) for path in modules[module][0]))
        return imported | {aliases[name] for name in imported if name in aliases}

    def names(imported: set[str], other: str) -> bool:
        return any(
            name == prefix or name.startswith(f"{prefix}.")
            for name in imported
            for prefix in modules[other][1]
        )

    graph = {m: {o for o in modules if o != m and names(imports_of(m), o)} for m in modules}

    def reaches(start: str, goal: str, seen: frozenset = frozenset()) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start]
        )

    assert not any(reaches(m, m) for m in modules), graph
    assert not reaches("services", "cadences")
    assert not reaches("execution", "services")
