from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import Membership, Role, Workspace

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue()


def test_it_prints_only_a_key_that_authenticates():
    output = run(
        "--workspace",
        "Initech",
        "--email",
        "peter@initech.test",
        "--admin",
        "--scopes",
        "actions:read,contacts:read",
    )
    lines = output.splitlines()
    assert len(lines) == 1
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {lines[0]}")
    body = client.get("/v1/me").json()
    assert body["workspace"]["name"] == "Initech"
    assert body["user"] == {
        "id": body["user"]["id"],
        "email": "peter@initech.test",
        "role": "admin",
    }
    assert body["api_key"]["scopes"] == ["actions:read", "contacts:read"]


def test_it_reuses_an_existing_workspace_and_user():
    run("--workspace", "Initech", "--email", "peter@initech.test", "--scopes", "actions:read")
    run("--workspace", "Initech", "--email", "peter@initech.test", "--scopes", "actions:write")
    assert Workspace.objects.filter(name="Initech").count() == 1
    membership = Membership.objects.get()
    assert membership.role == Role.MEMBER
    assert membership.user.api_keys.count() == 2


def test_it_refuses_unknown_scopes_and_writes_nothing():
    with pytest.raises(CommandError, match="actions:fly"):
        run("--workspace", "Initech", "--email", "peter@initech.test", "--scopes", "actions:fly")
    assert not Workspace.objects.exists()
