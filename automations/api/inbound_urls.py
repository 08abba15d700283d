from django.urls import path

from automations.api.inbound import InboundMessageView

urlpatterns = [path("inbound/messages", InboundMessageView.as_view(), name="inbound-message")]
