"""Helpers shared by the admin tests."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.test import Client


def grant(user, *codenames: str, app_label: str = "outreach") -> None:
    """Make `user` staff with the given permissions of `app_label`."""
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    )


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
