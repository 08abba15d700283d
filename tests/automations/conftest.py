"""Fixtures the automations tests share: the owner as staff in the admin, a recording
HTTP server on loopback, and the allow-list entry that lets the outbound client reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from tests.admin_helpers import staff_client
from tests.automations import LocalServer


@pytest.fixture
def staff(owner) -> Client:
    """The owner as staff with every automations permission, logged in."""
    return staff_client(owner, app_label="automations")


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def allow_loopback(settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = ["127.0.0.1/32"]
