from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Scope

pytestmark = pytest.mark.django_db


def test_an_admin_lists_every_key_of_the_workspace(owner_client, make_key, member, workspace):
    make_key(member, workspace, name="bob's")
    response = owner_client.get("/v1/api-keys")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert {k["name"] for k in body["api_keys"]} == {"test", "bob's"}
    assert body["pagination"] == {"total_items": 2, "limit": 20, "skip": 0}
    assert all("secret_hash" not in k and "key" not in k for k in body["api_keys"])


def test_a_member_lists_only_its_own_keys(member_client, make_key, owner, workspace):
    make_key(owner, workspace, name="alice's")
    body = member_client.get("/v1/api-keys").json()
    assert [k["user"]["email"] for k in body["api_keys"]] == ["bob@example.org"]


def test_a_member_cannot_read_an_admins_key(member_client, make_key, owner, workspace):
    key, _ = make_key(owner, workspace, name="alice's")
    assert member_client.get(f"/v1/api-keys/{key.public_id}").status_code == 404


def test_it_creates_a_key_and_shows_it_once(owner_client):
    response = owner_client.post(
        "/v1/api-keys", {"name": "zapier", "scopes": ["actions:read"]}, format="json"
    )
    assert response.status_code == 201
    created = response.json()["api_key"]
    assert created["scopes"] == ["actions:read"]
    assert created["key"].startswith("ohk_")

    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    assert fresh.get("/v1/me").json()["api_key"]["id"] == created["id"]

    again = owner_client.get(f"/v1/api-keys/{created['id']}").json()["api_key"]
    assert "key" not in again


def test_it_names_every_bad_field_on_create(owner_client):
    response = owner_client.post("/v1/api-keys", {"scopes": ["nope"]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert set(error["fields"]) == {"name", "scopes[0]"}
    assert error["fields"]["name"] == ["This field is required."]
    assert ApiKey.objects.count() == 1


def test_a_key_cannot_mint_a_stronger_key(client_for, owner, workspace):
    client = client_for(owner, workspace, [Scope.SETTINGS_MANAGE])
    response = client.post(
        "/v1/api-keys", {"name": "x", "scopes": ["settings:manage", "actions:write"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "scopes": ["Not held by the calling key: actions:write."]
    }


def test_it_revokes_a_key_and_a_second_revoke_is_409(owner_client, make_key, member, workspace):
    key, secret = make_key(member, workspace)
    response = owner_client.post(f"/v1/api-keys/{key.public_id}/revoke")
    assert response.status_code == 200
    assert response.json()["api_key"]["revoked_at"] is not None

    response = owner_client.post(f"/v1/api-keys/{key.public_id}/revoke")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_revoked"

    revoked = APIClient()
    revoked.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert revoked.get("/v1/me").status_code == 401


@pytest.mark.parametrize(
    ("query", "bad"),
    [("limit=0", {"limit"}), ("limit=101", {"limit"}), ("limit=x&skip=-1", {"limit", "skip"})],
)
def test_it_rejects_bad_pagination_naming_each_parameter(owner_client, query, bad):
    response = owner_client.get(f"/v1/api-keys?{query}")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == bad


def test_it_pages_with_limit_and_skip(owner_client, make_key, owner, workspace):
    for n in range(4):
        make_key(owner, workspace, name=f"k{n}")
    body = owner_client.get("/v1/api-keys?limit=2&skip=1").json()
    assert len(body["api_keys"]) == 2
    assert body["pagination"] == {"total_items": 5, "limit": 2, "skip": 1}


def test_the_list_runs_a_constant_number_of_queries(
    owner_client, make_key, owner, workspace, django_assert_num_queries
):
    for n in range(30):
        make_key(owner, workspace, name=f"k{n}")
    # key lookup, last-used touch, count, page
    with django_assert_num_queries(4):
        assert len(owner_client.get("/v1/api-keys?limit=1").json()["api_keys"]) == 1
    with django_assert_num_queries(4):
        assert len(owner_client.get("/v1/api-keys?limit=100").json()["api_keys"]) == 31


def test_a_skip_past_the_cap_is_a_400_naming_skip(owner_client):
    response = owner_client.get("/v1/api-keys", {"skip": "100000000000000000000"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["skip"]


def test_a_nul_in_the_name_is_a_400_naming_it(owner_client):
    response = owner_client.post(
        "/v1/api-keys", {"name": "ci\u0000", "scopes": ["actions:read"]}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["name"]
