"""The workspace filter every API view inherits, so none can forget it.

A record of another workspace is simply not in the queryset, so it answers 404,
never 403: the caller learns nothing about other tenants.
"""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ApiKey, Workspace


class WorkspaceScopedMixin:
    request: object

    @property
    def api_key(self) -> ApiKey:
        return self.request.auth  # type: ignore[attr-defined]

    @property
    def workspace(self) -> Workspace:
        return self.api_key.workspace

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()  # type: ignore[misc]
        return queryset.filter(workspace=self.workspace)
