from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey
from tests.admin_helpers import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(owner) -> Client:
    User = get_user_model()
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    return logged_in(owner)


def test_creating_a_key_in_the_admin_shows_it_once(staff_client, workspace, owner):
    response = staff_client.post(
        "/admin/accounts/apikey/add/",
        {
            "workspace": workspace.pk,
            "user": owner.pk,
            "name": "crm sync",
            "scopes": ["contacts:read", "contacts:write"],
        },
        follow=True,
    )
    assert response.status_code == 200
    key = re.search(r"ohk_[0-9a-f]{8}_[\w-]{43}", response.content.decode()).group(0)
    stored = ApiKey.objects.get(name="crm sync")
    assert stored.scopes == ["contacts:read", "contacts:write"]
    assert key.split("_", 2)[2] not in str(ApiKey.objects.filter(pk=stored.pk).values().get())

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/v1/me").status_code == 200

    detail = staff_client.get(f"/admin/accounts/apikey/{stored.pk}/change/").content.decode()
    assert key not in detail


def test_the_admin_refuses_a_key_for_a_non_member(staff_client, workspace, outsider):
    response = staff_client.post(
        "/admin/accounts/apikey/add/",
        {"workspace": workspace.pk, "user": outsider.pk, "name": "x", "scopes": ["actions:read"]},
    )
    assert response.status_code == 200
    assert "not a member of the workspace" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_revoke_action_revokes_the_selected_keys(staff_client, make_key, owner, workspace):
    first, _ = make_key(owner, workspace, name="a")
    second, _ = make_key(owner, workspace, name="b")
    staff_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke_keys", "_selected_action": [first.pk]},
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.revoked_at is not None
    assert second.revoked_at is None
