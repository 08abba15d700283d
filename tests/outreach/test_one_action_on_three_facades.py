"""One action through its whole life, read on all three facades at every stage:
/v1/actions (seed 000), /v2/actions (seed 001, Salesloft) and
/functions/v1/scheduled-actions (seed 003, Magpipe). DESIGN.md's status words:
Salesloft in_progress = not yet executed, pending_activity = processing (and
gone once executed); Magpipe pending = pending_approval or scheduled, and
rejected shows as cancelled."""

from __future__ import annotations

import pytest
from django.core import mail

from outreach.execution import action_claim_due, action_execute
from outreach.models import Action

pytestmark = pytest.mark.django_db

EMAIL = {"to": "dana@example.com", "subject": "Hello Dana", "body": "Hi!"}


def views(client, action_id: str) -> dict:
    """The action as each facade shows it (None where a facade no longer lists it)."""
    row = Action.objects.get(public_id=action_id)  # its ids on the other facades
    v1 = client.get(f"/v1/actions/{action_id}").json()["action"]
    v2_detail = client.get(f"/v2/actions/{row.pk}.json")
    v2_list = client.get("/v2/actions.json", {"ids": str(row.pk)}).json()["data"]
    magpipe = client.get(f"/functions/v1/scheduled-actions/{row.uuid}").json()["data"]
    listed = client.get("/functions/v1/scheduled-actions").json()["data"]
    assert [r["id"] for r in listed] == [str(row.uuid)]
    return {
        "v1": v1["status"],
        "v2": v2_detail.json()["data"]["status"] if v2_detail.status_code == 200 else None,
        "v2_listed": [row["status"] for row in v2_list],
        "magpipe": magpipe["status"],
        "v1_record": v1,
        "v2_record": v2_detail.json()["data"] if v2_detail.status_code == 200 else None,
        "magpipe_record": magpipe,
    }


def create(client, email_identity, **extra) -> str:
    response = client.post(
        "/v1/actions",
        {"type": "send_email", "params": EMAIL, "identity_id": email_identity.public_id, **extra},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["action_id"]


def test_an_email_action_looks_the_same_on_all_three_facades_through_its_life(
    owner_client, email_identity, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    action_id = create(owner_client, email_identity, require_approval=True)

    seen = views(owner_client, action_id)
    assert (seen["v1"], seen["v2"], seen["v2_listed"], seen["magpipe"]) == (
        "pending_approval",
        "in_progress",
        ["in_progress"],
        "pending",
    )
    v1, v2, magpipe = seen["v1_record"], seen["v2_record"], seen["magpipe_record"]
    # The same action, each in its own id format and field names.
    row = Action.objects.get(public_id=action_id)
    assert (v1["id"], v2["id"], magpipe["id"]) == (row.public_id, row.pk, str(row.uuid))
    assert v2["type"] == "email" and magpipe["action_type"] == "send_email"
    assert magpipe["parameters"] == v1["params"]

    approved = owner_client.post(
        f"/v1/actions/{action_id}/approve", {"action": "approve"}, format="json"
    )
    assert approved.status_code == 200, approved.content
    seen = views(owner_client, action_id)
    assert (seen["v1"], seen["v2"], seen["magpipe"]) == ("scheduled", "in_progress", "pending")
    assert seen["v2_record"]["due"] is True  # due now: the dispatcher will take it

    [claim] = action_claim_due(limit=10)
    seen = views(owner_client, action_id)
    assert (seen["v1"], seen["v2"], seen["v2_listed"], seen["magpipe"]) == (
        "processing",
        "pending_activity",
        ["pending_activity"],
        "processing",
    )

    action_execute(action_id=claim.action_id, lease_token=claim.lease_token)
    assert len(mail.outbox) == 1
    seen = views(owner_client, action_id)
    assert (seen["v1"], seen["v2"], seen["v2_listed"], seen["magpipe"]) == (
        "completed",
        None,  # executed: Salesloft lists only what is still to do
        [],
        "completed",
    )
    assert seen["magpipe_record"]["executed_at"] is not None
    assert seen["magpipe_record"]["error_message"] is None


def test_rejected_and_cancelled_actions_leave_v2_and_show_cancelled_on_magpipe(
    owner_client, email_identity
):
    rejected = create(owner_client, email_identity, require_approval=True)
    owner_client.post(f"/v1/actions/{rejected}/approve", {"action": "reject"}, format="json")
    seen = views(owner_client, rejected)
    assert (seen["v1"], seen["v2"], seen["magpipe"]) == ("rejected", None, "cancelled")


def test_a_cancel_on_magpipe_is_seen_on_v1_and_v2(owner_client, email_identity):
    action_id = create(owner_client, email_identity, scheduled_time="2030-01-01T09:00:00Z")
    uuid = Action.objects.get(public_id=action_id).uuid
    assert owner_client.delete(f"/functions/v1/scheduled-actions/{uuid}").status_code == 200
    seen = views(owner_client, action_id)
    assert (seen["v1"], seen["v2"], seen["magpipe"]) == ("cancelled", None, "cancelled")
