"""/api/*: the AnswerPal automation settings facade (seed 004). Paths keep the
seed's casing (`/api/Actions`, `/api/TopicActions`, …)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from automations.api.tools import RunView, ToolsView
from automations.api.views import (
    ActionDefinitionViewSet,
    ChannelViewSet,
    HookActionViewSet,
    TopicActionViewSet,
    TopicViewSet,
)

router = SimpleRouter(trailing_slash=False)
router.register("Actions", ActionDefinitionViewSet, basename="answerpal-action")
router.register("TopicActions", TopicActionViewSet, basename="answerpal-topic-action")
router.register("HookActions", HookActionViewSet, basename="answerpal-hook-action")
router.register("Topics", TopicViewSet, basename="answerpal-topic")
router.register("Channels", ChannelViewSet, basename="answerpal-channel")

urlpatterns = [
    path("Actions/tools", ToolsView.as_view(), name="answerpal-tools"),
    path("Actions/<int:action_id>/run", RunView.as_view(), name="answerpal-action-run"),
    *router.urls,
]
