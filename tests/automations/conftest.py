"""Fixtures the automations tests share: a recording HTTP server on loopback, and the
allow-list entry that lets the outbound client reach it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.automations import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def allow_loopback(settings):
    settings.OUTBOUND_HTTP_ALLOWLIST = ["127.0.0.1/32"]
