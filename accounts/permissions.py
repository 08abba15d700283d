"""Scope checks. A view names the scope each action or method needs:

    required_scopes = {"list": Scope.ACTIONS_READ, "create": Scope.ACTIONS_WRITE}
    required_scopes = {"GET": Scope.ACTIONS_READ}
    required_scopes = {"GET": (Scope.TICKETS_READ, Scope.SETTINGS_MANAGE)}  # any of

The most specific entry wins: "<action>:<METHOD>" (e.g. "notes:POST" for an
action serving several methods), then the viewset action, then the method. A
view that declares nothing for the request is refused: forgetting a scope must
fail closed. `ANY_KEY` lets any valid key through (e.g. /v1/me).

OPTIONS is the exception: a CORS preflight carries no Authorization header, and
DRF's answer to it (config.metadata.PublicMetadata) describes the endpoint only,
never a workspace's data, so it needs neither a key nor a scope.
"""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated

from accounts.models import ApiKey

ANY_KEY = "*"


def required_scopes_for(view, method: str) -> tuple[str, ...] | None:
    table = getattr(view, "required_scopes", None) or {}
    action = getattr(view, "action", None)
    scope = None
    if action:
        scope = table.get(f"{action}:{method}") or table.get(action)
    if scope is None:
        scope = table.get(method)
    if scope is None:
        return None
    return (scope,) if isinstance(scope, str) else tuple(scope)


UNGUARDED_METHODS = frozenset({"OPTIONS"})


class IsAuthenticatedOrOptions(IsAuthenticated):
    def has_permission(self, request, view) -> bool:
        return request.method in UNGUARDED_METHODS or super().has_permission(request, view)


class HasScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.method in UNGUARDED_METHODS:
            return True
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # no handler: let dispatch answer 405, not a misleading 403
        scopes = required_scopes_for(view, request.method)
        if scopes is None:
            raise PermissionDenied("This endpoint declares no scope; refusing.", code="forbidden")
        if ANY_KEY in scopes or any(key.has_scope(s) for s in scopes):
            return True
        wanted = " or ".join(f"'{s}'" for s in scopes)
        raise PermissionDenied(f"This API key lacks the {wanted} scope.", code="missing_scope")
