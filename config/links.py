"""Absolute links to this service, for what leaves it (emails, Slack posts):
PUBLIC_BASE_URL (which `make run` sets to its own address) plus a path."""

from __future__ import annotations

from django.conf import settings


def public_url(path: str) -> str:
    """`path` (as `reverse()` gives it) on PUBLIC_BASE_URL."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"
