"""The auth matrix, on /v1/me and /v1/api-keys."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKey, Membership, Scope

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_it_returns_the_keys_workspace_user_and_scopes(make_key, owner, workspace):
    key, secret = make_key(owner, workspace, [Scope.ACTIONS_READ, Scope.CONTACTS_READ])
    response = bearer(secret).get("/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["workspace"] == {
        "id": workspace.public_id,
        "name": "Acme",
        "timezone": "Europe/Amsterdam",
    }
    assert body["user"] == {"id": owner.pk, "email": owner.email, "role": "admin"}
    assert body["api_key"]["id"] == key.public_id
    assert body["api_key"]["scopes"] == ["actions:read", "contacts:read"]


def test_it_answers_401_without_a_key():
    response = APIClient().get("/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "status": "error",
        "error": {
            "code": "unauthenticated",
            "message": "Authentication credentials were not provided.",
            "fields": {},
        },
    }


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer ohk_deadbeef_wrong", "Bearer not-a-key", "Token abc"],
)
def test_it_answers_401_for_a_bad_key(header, make_key, owner, workspace):
    make_key(owner, workspace)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_it_answers_401_for_a_right_prefix_with_a_wrong_secret(make_key, owner, workspace):
    key, secret = make_key(owner, workspace)
    forged = f"ohk_{key.prefix}_{'x' * 43}"
    assert bearer(forged).get("/v1/me").status_code == 401
    assert bearer(secret).get("/v1/me").status_code == 200


def test_it_answers_401_for_a_revoked_key(make_key, owner, workspace):
    key, secret = make_key(owner, workspace)
    services.api_key_revoke(api_key=key)
    response = bearer(secret).get("/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid or revoked API key."


def test_it_answers_401_once_the_user_left_the_workspace(make_key, member, workspace):
    _, secret = make_key(member, workspace)
    Membership.objects.filter(user=member, workspace=workspace).delete()
    assert bearer(secret).get("/v1/me").status_code == 401


def test_it_answers_401_for_a_deactivated_user(make_key, member, workspace):
    _, secret = make_key(member, workspace)
    member.is_active = False
    member.save()
    assert bearer(secret).get("/v1/me").status_code == 401


def test_it_answers_403_naming_the_missing_scope(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.ACTIONS_READ])
    response = client.get("/v1/api-keys")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "missing_scope"
    assert "settings:manage" in error["message"]


def test_it_answers_404_for_another_workspaces_record(
    owner_client, outsider, other_workspace, make_key
):
    foreign, _ = make_key(outsider, other_workspace)
    response = owner_client.get(f"/v1/api-keys/{foreign.public_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = owner_client.post(f"/v1/api-keys/{foreign.public_id}/revoke")
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None


def test_it_records_when_a_key_was_last_used(make_key, owner, workspace):
    key, secret = make_key(owner, workspace)
    assert key.last_used_at is None
    before = timezone.now()
    bearer(secret).get("/v1/me")
    key.refresh_from_db()
    assert key.last_used_at >= before


def test_it_stores_only_a_hash_of_the_secret(make_key, owner, workspace):
    key, secret = make_key(owner, workspace)
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    secret_part = secret.split("_", 2)[2]
    assert all(secret_part not in str(value) for value in stored.values())
    assert stored["secret_hash"] == services.hash_secret(secret_part)
