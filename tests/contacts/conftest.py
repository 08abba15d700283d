"""Fixtures the contacts tests share."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.admin_helpers import staff_client


@pytest.fixture
def staff(owner) -> Client:
    """The owner as staff (not a superuser) with every contacts permission, logged in."""
    return staff_client(owner, app_label="contacts")
