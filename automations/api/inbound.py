"""POST /v1/inbound/messages: an inbound message enters the hub."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import Actor
from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from automations.models import Channel
from automations.services.inbound import inbound_message_receive
from config.responses import ok
from outreach.params import EmailAddressField


class InboundMessageSerializer(serializers.Serializer):
    # "from" is a Python keyword: declared below under its wire name.
    to = EmailAddressField()
    subject = serializers.CharField(required=False, allow_blank=True, max_length=998, default="")
    body = serializers.CharField(required=False, allow_blank=True, default="")
    thread_id = serializers.CharField(required=False, allow_blank=True, default="")
    in_reply_to = serializers.CharField(required=False, allow_blank=True, default="")
    message_id = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")
    channel_id = serializers.IntegerField(required=False, allow_null=True, default=None)


InboundMessageSerializer._declared_fields["from"] = EmailAddressField()


class InboundReceivedSerializer(serializers.Serializer):
    status = serializers.CharField()
    message_id = serializers.IntegerField()
    conversation_id = serializers.CharField()
    contact_id = serializers.CharField()
    run_id = serializers.IntegerField()


class InboundMessageView(WorkspaceScopedMixin, APIView):
    """Store an inbound email in the sender's conversation (creating the contact
    when new) and start the PreSpam → … → TopicActions pipeline."""

    required_scopes = {"POST": Scope.CONTACTS_WRITE}

    @extend_schema(
        request=InboundMessageSerializer,
        responses={201: InboundReceivedSerializer},
        operation_id="inbound_message_create",
        tags=["inbound"],
    )
    def post(self, request: Request) -> Response:
        body = InboundMessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        channel = None
        if data["channel_id"] is not None:
            channel = (
                Channel.objects.for_workspace(self.workspace).filter(pk=data["channel_id"]).first()
            )
            if channel is None:
                raise serializers.ValidationError({"channel_id": ["No such channel."]})
        message, run = inbound_message_receive(
            workspace=self.workspace,
            actor=Actor.for_api_key(self.api_key),
            from_address=data["from"],
            to_address=data["to"],
            subject=data["subject"],
            body=data["body"],
            thread_id=data["thread_id"],
            in_reply_to=data["in_reply_to"],
            provider_message_id=data["message_id"],
            channel=channel,
        )
        return Response(
            ok(
                message_id=message.pk,
                conversation_id=message.conversation.public_id,
                contact_id=run.contact.public_id,
                run_id=run.pk,
            ),
            status=status.HTTP_201_CREATED,
        )
