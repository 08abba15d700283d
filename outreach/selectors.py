"""Reads for outreach."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiKey
from outreach.models import Action


def actions_visible_to(
    *, api_key: ApiKey, actions: QuerySet[Action] | None = None
) -> QuerySet[Action]:
    """Admins see the workspace's actions; members only those they own
    (Salesloft's rule, applied on every facade)."""
    actions = (Action.objects.all() if actions is None else actions).for_workspace(
        api_key.workspace
    )
    actions = actions.select_related("identity", "owner", "contact")
    if not api_key.is_workspace_admin:
        actions = actions.filter(owner=api_key.user)
    return actions
