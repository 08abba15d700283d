"""What every app's admin builds on: workspace tenancy, service dry runs, read-only inlines.

Tenancy: a superuser sees every workspace; any other staff user only the workspaces
they are a member of, so another workspace's row is not listed and its page is "not
found" (`WorkspaceScopedAdmin`), and no choice offers it (`visible_workspaces`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Workspace
from accounts.selectors import scope_to_member
from config.exceptions import DomainError


# --- Tenancy -----------------------------------------------------------------
def visible_workspaces(request: HttpRequest) -> QuerySet[Workspace]:
    if request.user.is_superuser:
        return Workspace.objects.all()
    return Workspace.objects.filter(memberships__user=request.user)


def scope_to_user(request: HttpRequest, queryset: QuerySet) -> QuerySet:
    """Rows of the workspaces `request.user` may see (all of them for a superuser)."""
    return scope_to_member(user=request.user, queryset=queryset)


class WorkspaceScopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_user(request, super().get_queryset(request))


# --- Service checks in forms -------------------------------------------------
class _DryRun(Exception):
    """Raised to roll a validation pass back."""


def dry_run(call: Callable[[], Any]) -> DomainError | None:
    """Run `call` in a savepoint that is always rolled back; its DomainError, if any."""
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        return None
    except DomainError as exc:
        return exc


# --- Read-only admins and inlines ---------------------------------------------
class ReadOnlyAdmin:
    """A model admin or inline whose rows are written only by services (actions,
    runs, jobs, enrollments): no add, change or delete in the admin. Put it first in
    the bases so its answers win over ModelAdmin's."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyAdmin, admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Shown only inside its parent's page (an action's, a contact's, a run's), which
        # has checked its own permission.
        return True
