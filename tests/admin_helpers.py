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
