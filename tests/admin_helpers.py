"""Helpers shared by the admin tests."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.test import Client


def grant(user, *codenames: str, app_label: str = "outreach") -> None:
    """Make `user` staff with the given permissions of `app_label`."""
    _make_staff(
        user, Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    )


def logged_in(user, *, enforce_csrf_checks: bool = False) -> Client:
    """A test client with `user` logged in (checking CSRF tokens if asked)."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


def staff_client(
    user,
    *,
    app_label: str,
    codenames: tuple[str, ...] | None = None,
    enforce_csrf_checks: bool = False,
) -> Client:
    """`user` as staff with the permissions of `app_label` (all of them unless
    `codenames`), logged in."""
    permissions = Permission.objects.filter(content_type__app_label=app_label)
    if codenames is not None:
        permissions = permissions.filter(codename__in=codenames)
    _make_staff(user, permissions)
    return logged_in(user, enforce_csrf_checks=enforce_csrf_checks)


def _make_staff(user, permissions) -> None:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*permissions)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def field_errors(response) -> dict[str, list[str]]:
    """The main form's errors by field ("__all__" for the form's own)."""
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    return {name: list(errors) for name, errors in form.errors.items()}


def form_data(response) -> dict:
    """What the browser would post back from an admin add/change page, unchanged."""
    data: dict = {}

    def add(form) -> None:
        for name, field in form.fields.items():
            value = form[name].value()
            key = form.add_prefix(name)
            if isinstance(value, bool) or getattr(field.widget, "input_type", "") == "checkbox":
                if value:
                    data[key] = "on"
            elif value is not None:
                data[key] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data
