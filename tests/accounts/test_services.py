from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, Membership, Role
from config.exceptions import Conflict, ValidationFailed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_parse_scopes_rejects_unknown_scopes_naming_them():
    with pytest.raises(ValidationFailed) as caught:
        services.parse_scopes("actions:read,actions:fly,root")
    assert caught.value.fields == {
        "scopes": ["Unknown scope 'actions:fly'.", "Unknown scope 'root'."]
    }


def test_parse_scopes_dedupes_and_orders():
    assert services.parse_scopes(" contacts:read,actions:read,contacts:read ") == [
        "actions:read",
        "contacts:read",
    ]


def test_api_key_create_refuses_a_user_outside_the_workspace(workspace):
    stranger = UserFactory()
    with pytest.raises(ValidationFailed):
        services.api_key_create(
            workspace=workspace, user=stranger, name="x", scopes=["actions:read"]
        )
    assert ApiKey.objects.count() == 0


def test_api_key_revoke_is_race_safe(make_key, owner, workspace):
    key, _ = make_key(owner, workspace)
    stale_copy = ApiKey.objects.get(pk=key.pk)
    services.api_key_revoke(api_key=key)
    with pytest.raises(Conflict):
        services.api_key_revoke(api_key=stale_copy)


def test_membership_ensure_applies_a_given_role_and_keeps_it_otherwise(workspace):
    user = UserFactory()
    assert services.membership_ensure(workspace=workspace, user=user, role=None).role == Role.MEMBER
    services.membership_ensure(workspace=workspace, user=user, role=Role.ADMIN)
    services.membership_ensure(workspace=workspace, user=user, role=None)
    assert Membership.objects.get(user=user).role == Role.ADMIN


def test_user_get_or_create_matches_email_case_insensitively(db):
    user, created = services.user_get_or_create(email="Dana@Example.com")
    again, created_again = services.user_get_or_create(email="dana@example.com")
    assert created and not created_again
    assert again.pk == user.pk
    assert not user.has_usable_password()


def test_purge_deletes_only_keys_revoked_long_ago(make_key, owner, workspace):
    old, _ = make_key(owner, workspace, name="old")
    recent, _ = make_key(owner, workspace, name="recent")
    make_key(owner, workspace, name="active")
    ApiKey.objects.filter(pk=old.pk).update(revoked_at=timezone.now() - timedelta(days=91))
    ApiKey.objects.filter(pk=recent.pk).update(revoked_at=timezone.now() - timedelta(days=1))

    from accounts.tasks import purge_revoked_api_keys

    assert purge_revoked_api_keys.apply().get() == 1
    assert set(ApiKey.objects.values_list("name", flat=True)) == {"recent", "active"}
