from django.urls import path

from automations.api.conversations import CallPickupView, CloseView, EscalateView
from automations.api.inbound import InboundMessageView

urlpatterns = [
    path("inbound/messages", InboundMessageView.as_view(), name="inbound-message"),
    path(
        "conversations/<str:conversation_id>/escalate",
        EscalateView.as_view(),
        name="conversation-escalate",
    ),
    path(
        "conversations/<str:conversation_id>/close", CloseView.as_view(), name="conversation-close"
    ),
    path("calls/pickup", CallPickupView.as_view(), name="call-pickup"),
]
