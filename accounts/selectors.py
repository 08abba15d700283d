"""Reads for accounts."""

from __future__ import annotations

import hmac

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, QuerySet, Subquery

from accounts.models import API_KEY_PREFIX, ApiKey, Membership
from accounts.services import hash_secret


def api_key_from_token(token: str) -> ApiKey | None:
    """The active key for a bearer token, with its workspace, user and the user's
    role annotated, in one query. None for anything that does not check out."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    _, prefix, secret = parts
    role = Membership.objects.filter(workspace=OuterRef("workspace"), user=OuterRef("user"))
    key = (
        ApiKey.objects.select_related("workspace", "user")
        .annotate(role=Subquery(role.values("role")[:1]))
        .filter(prefix=prefix, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if key is None or key.role is None:  # the user has left the workspace
        return None
    if not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    return key


def scope_to_member(*, user: AbstractBaseUser | AnonymousUser, queryset: QuerySet) -> QuerySet:
    """Rows (of a model with a `workspace`) of the workspaces `user` is a member
    of; every row for a superuser. The admin's tenancy (accounts.admin.common)
    and work a user started in the background (a bulk decision) both use it."""
    if user.is_superuser:
        return queryset
    member_of = Membership.objects.filter(user=user).values("workspace_id")
    return queryset.filter(workspace_id__in=member_of)
