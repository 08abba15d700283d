"""Idempotency-Key on create, approve and bulk approve."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.idempotency import purge_expired
from accounts.models import IdempotencyKey
from outreach.models import Action, ApprovalDecision

pytestmark = pytest.mark.django_db


def create(client, identity, key, subject="Hello"):
    return client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "identity_id": identity.public_id,
            "params": {"to": "a@example.com", "subject": subject, "body": "b"},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_the_same_key_and_body_replay_the_first_response(owner_client, email_identity):
    first = create(owner_client, email_identity, "k-1")
    second = create(owner_client, email_identity, "k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Action.objects.count() == 1


def test_the_same_key_with_another_body_is_422(owner_client, email_identity):
    create(owner_client, email_identity, "k-1")
    response = create(owner_client, email_identity, "k-1", subject="Other")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Action.objects.count() == 1


def test_a_validation_error_is_replayed_too(owner_client, email_identity):
    bad = owner_client.post(
        "/v1/actions", {"type": "nope"}, format="json", HTTP_IDEMPOTENCY_KEY="k-bad"
    )
    again = owner_client.post(
        "/v1/actions", {"type": "nope"}, format="json", HTTP_IDEMPOTENCY_KEY="k-bad"
    )
    assert bad.status_code == again.status_code == 400
    assert again.json() == bad.json()


def test_keys_are_per_workspace(
    owner_client, outsider_client, email_identity, outsider, other_workspace
):
    from outreach.services import identity_create

    theirs = identity_create(
        workspace=other_workspace, channel="email", address="sales@globex.example.com"
    )
    assert create(owner_client, email_identity, "shared").status_code == 201
    assert create(outsider_client, theirs, "shared").status_code == 201
    assert Action.objects.count() == 2


def test_a_key_still_in_progress_is_409(owner_client, email_identity):
    first = create(owner_client, email_identity, "k-busy")
    # Put the reservation back in the state it has while the first request runs.
    IdempotencyKey.objects.filter(key="k-busy").update(completed=False)
    response = create(owner_client, email_identity, "k-busy")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_progress"
    assert first.status_code == 201
    assert Action.objects.count() == 1


def test_an_abandoned_reservation_is_taken_over(owner_client, email_identity):
    create(owner_client, email_identity, "k-crash")
    IdempotencyKey.objects.filter(key="k-crash").update(
        completed=False, created_at=timezone.now() - timedelta(minutes=6)
    )
    assert create(owner_client, email_identity, "k-crash").status_code == 201


def test_an_expired_key_is_forgotten(owner_client, email_identity):
    create(owner_client, email_identity, "k-old")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert create(owner_client, email_identity, "k-old").status_code == 201
    assert Action.objects.count() == 2
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert purge_expired() == 1


def test_approve_is_idempotent(owner_client, make_action):
    action = make_action()
    path = f"/v1/actions/{action.public_id}/approve"
    first = owner_client.post(
        path, {"action": "approve"}, format="json", HTTP_IDEMPOTENCY_KEY="a-1"
    )
    second = owner_client.post(
        path, {"action": "approve"}, format="json", HTTP_IDEMPOTENCY_KEY="a-1"
    )
    assert first.status_code == second.status_code == 200  # not a 409: it is a replay
    assert ApprovalDecision.objects.count() == 1


def test_bulk_approve_is_idempotent(owner_client, make_action):
    ids = [make_action().public_id, make_action().public_id]
    body = {"action": "reject", "action_ids": ids, "comment": "no"}
    first = owner_client.post(
        "/v1/actions/approve/bulk", body, format="json", HTTP_IDEMPOTENCY_KEY="b-1"
    )
    second = owner_client.post(
        "/v1/actions/approve/bulk", body, format="json", HTTP_IDEMPOTENCY_KEY="b-1"
    )
    assert first.json() == second.json()
    assert first.json()["succeeded"] == 2
    assert ApprovalDecision.objects.count() == 2


def test_an_overlong_key_is_400(owner_client, email_identity):
    response = create(owner_client, email_identity, "k" * 256)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"Idempotency-Key"}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
def test_concurrent_duplicates_create_one_action(client_for, owner, workspace, email_identity):
    results: list[int] = []
    barrier = threading.Barrier(4)

    def send():
        from django.db import connections

        client = client_for(owner, workspace)
        barrier.wait()
        try:
            results.append(create(client, email_identity, "race").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Action.objects.count() == 1
    assert results.count(201) >= 1
    assert set(results) <= {201, 409}
