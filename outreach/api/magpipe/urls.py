"""The Magpipe-compatible facade (seed 003): /functions/v1/scheduled-actions."""

from django.urls import path

from outreach.api.magpipe.views import (
    ScheduledActionCancelView,
    ScheduledActionDetailView,
    ScheduledActionListView,
)

urlpatterns = [
    path(
        "scheduled-actions",
        ScheduledActionListView.as_view(),
        name="magpipe-scheduled-actions",
    ),
    path(
        "scheduled-actions/<str:action_id>",
        ScheduledActionDetailView.as_view(),
        name="magpipe-scheduled-action",
    ),
    path(
        "scheduled-actions/<str:action_id>/cancel",
        ScheduledActionCancelView.as_view(),
        name="magpipe-scheduled-action-cancel",
    ),
]
