"""A cadence run by the real worker: a contact enrolled on a three-step cadence
(every step a day-1 email, the identity without a sending window) gets each
step's email exactly once at a real SMTP server, one after another, and the
enrollment completes.

Each step is scheduled inside the transaction that completes the previous
step's action (outreach.transitions → outreach.services.cadences.enrollment_advance),
so the dispatcher picks it up on its next tick; nothing waits in the broker.
"""

from __future__ import annotations

import itertools

import pytest

from tests.reliability.helpers import deliveries, wait_deliveries_settle, wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.django_db(transaction=True)]

STEPS = 3


def test_a_cadence_of_three_day_one_emails_is_delivered_once_each_and_completes(
    cluster, smtp_server, sender
):
    from accounts.actors import Actor
    from contacts import services as contact_services
    from outreach.models import Action, ActionStatus, Enrollment, EnrollmentState
    from outreach.services import cadences

    workspace, owner, _identity = sender
    actor = Actor.for_user(owner)
    contact = contact_services.contact_create(
        workspace=workspace, actor=actor, email="ada@example.com", properties={"firstname": "Ada"}
    )
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Three emails")
    for n in range(1, STEPS + 1):
        cadences.step_create(
            cadence=cadence,
            type="email",
            day=1,
            params_template={
                "subject": f"Step {n} for {{{{ contact.firstname }}}}",
                "body": f"Hello {{{{ contact.firstname }}}}, this is touch {n}.",
            },
        )
    enrollment = cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=cadence, contact=contact
    )

    cluster.worker("w1", concurrency=2)
    cluster.dispatcher()

    def completed() -> bool:
        return Enrollment.objects.filter(pk=enrollment.pk, state=EnrollmentState.COMPLETED).exists()

    wait_until(completed, timeout=90, what="the enrollment to complete", check=cluster.check_alive)
    wait_deliveries_settle(smtp_server)
    cluster.stop_all()

    actions = list(Action.objects.filter(enrollment=enrollment).order_by("id"))
    assert [a.step.order for a in actions] == [1, 2, 3]
    assert {a.status for a in actions} == {ActionStatus.COMPLETED}
    by_action, by_message_id = deliveries(smtp_server)
    assert by_action == {a.public_id: 1 for a in actions}
    assert set(by_message_id.values()) == {1}
    subjects = [str(m["Subject"]) for m in smtp_server.messages]
    assert subjects == ["Step 1 for Ada", "Step 2 for Ada", "Step 3 for Ada"]
    assert {str(m["To"]) for m in smtp_server.messages} == {"ada@example.com"}
    # Each step was scheduled only after the previous one was sent.
    for earlier, later in itertools.pairwise(actions):
        assert later.created_at >= earlier.executed_at
    enrollment.refresh_from_db()
    assert (enrollment.stop_reason, enrollment.finished_at is not None) == ("", True)
