"""Shared fixtures. Like healthchecks' BaseTestCase: a workspace with an owner
(admin) and a member, and an outsider who owns another workspace."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKey, Role, Scope
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

ALL_SCOPES = list(Scope.values)


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="Acme")


@pytest.fixture
def owner(workspace):
    return MembershipFactory(
        workspace=workspace, user=UserFactory(username="alice@example.org"), role=Role.ADMIN
    ).user


@pytest.fixture
def member(workspace):
    return MembershipFactory(
        workspace=workspace, user=UserFactory(username="bob@example.org"), role=Role.MEMBER
    ).user


@pytest.fixture
def other_workspace(db):
    return WorkspaceFactory(name="Globex")


@pytest.fixture
def outsider(other_workspace):
    return MembershipFactory(
        workspace=other_workspace,
        user=UserFactory(username="charlie@example.net"),
        role=Role.ADMIN,
    ).user


@pytest.fixture
def make_key() -> Callable[..., tuple[ApiKey, str]]:
    def make(user, workspace, scopes=None, name="test") -> tuple[ApiKey, str]:
        return services.api_key_create(
            workspace=workspace, user=user, name=name, scopes=scopes or ALL_SCOPES
        )

    return make


@pytest.fixture
def client_for(make_key) -> Callable[..., APIClient]:
    """An API client authenticated as `user` in `workspace` with `scopes`."""

    def build(user, workspace, scopes=None) -> APIClient:
        _, secret = make_key(user, workspace, scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return build


@pytest.fixture
def owner_client(client_for, owner, workspace) -> APIClient:
    return client_for(owner, workspace)


@pytest.fixture
def member_client(client_for, member, workspace) -> APIClient:
    return client_for(member, workspace)


@pytest.fixture
def outsider_client(client_for, outsider, other_workspace) -> APIClient:
    return client_for(outsider, other_workspace)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness buys nothing in tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- outreach ---------------------------------------------------------------
@pytest.fixture
def email_identity(workspace, owner):
    from outreach import services as outreach_services

    return outreach_services.identity_create(
        workspace=workspace,
        channel="email",
        address="sales@acme.example.com",
        display_name="Acme Sales",
        owner=owner,
    )


@pytest.fixture
def sms_identity(workspace, owner):
    from outreach import services as outreach_services

    return outreach_services.identity_create(
        workspace=workspace, channel="sms", address="+14155550100", owner=owner
    )


@pytest.fixture
def identities(workspace):
    """One identity per sending channel, for tests that show every kind of action."""
    from outreach import services as outreach_services

    return {
        "email": outreach_services.identity_create(
            workspace=workspace,
            channel="email",
            address="sales@acme.example.com",
            display_name="Acme Sales",
        ),
        "sms": outreach_services.identity_create(
            workspace=workspace, channel="sms", address="+14155550100"
        ),
        "linkedin": outreach_services.identity_create(
            workspace=workspace,
            channel="linkedin",
            address="https://www.linkedin.com/in/acme-sales",
        ),
    }


EMAIL_PARAMS = {"to": "contact@example.com", "subject": "Hello", "body": "Hi there!"}


@pytest.fixture
def make_action(workspace, owner, email_identity):
    """Create an action through the service, as `owner` unless told otherwise."""
    from accounts.actors import Actor
    from outreach import services as outreach_services

    def make(**overrides):
        user = overrides.pop("user", owner)
        fields = {
            "type": "send_email",
            "params": dict(EMAIL_PARAMS),
            "identity": email_identity,
            "require_approval": True,
        }
        fields.update(overrides)
        return outreach_services.action_create(
            workspace=fields.pop("workspace", workspace), actor=Actor.for_user(user), **fields
        )

    return make


# --- contacts ---------------------------------------------------------------
@pytest.fixture
def make_contact(workspace):
    """Create a contact through the service (so its events exist)."""
    from accounts.actors import Actor
    from contacts import services as contact_services

    def make(email: str, workspace_=None, **properties):
        return contact_services.contact_create(
            workspace=workspace_ or workspace,
            actor=Actor.system("test"),
            email=email,
            properties=properties or None,
        )

    return make


# --- config -----------------------------------------------------------------
@pytest.fixture
def anymail_esp(settings):
    """`anymail_esp("postmark")` configures ANYMAIL_ESP and rebuilds the URLconf,
    which mounts only that ESP's webhooks when it is imported; the original ESP
    and URLconf come back afterwards."""
    import importlib

    from django.urls import clear_url_caches

    import hub.urls

    original = settings.ANYMAIL_ESP

    def configure(esp: str | None) -> None:
        settings.ANYMAIL_ESP = esp
        importlib.reload(hub.urls)
        clear_url_caches()

    yield configure
    configure(original)
