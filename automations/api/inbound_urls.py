from django.urls import path

from automations.api.conversations import CallPickupView, CloseView, EscalateView
from automations.api.inbound import InboundMessageView

# slug, not str: a public id is th_<hex>, and a str would carry a NUL from the
# path into the lookup, which PostgreSQL refuses (a 500, not a 404).
urlpatterns = [
    path("inbound/messages", InboundMessageView.as_view(), name="inbound-message"),
    path(
        "conversations/<slug:conversation_id>/escalate",
        EscalateView.as_view(),
        name="conversation-escalate",
    ),
    path(
        "conversations/<slug:conversation_id>/close", CloseView.as_view(), name="conversation-close"
    ),
    path("calls/pickup", CallPickupView.as_view(), name="call-pickup"),
]
