"""The conversation events that fire hooks, on the /v1 facade:

- `POST /v1/conversations/{id}/escalate` {reason?, to?}: 202, the escalation runs
  OnEscalate, then PostEscalate or OnEscalateFailed (automations.services.conversations).
- `POST /v1/conversations/{id}/close`: 200, closed, OnClose runs.
- `POST /v1/calls/pickup` {from, to, call_id, transcript?}: 201, the answered call
  is recorded and OnPhonePickup then OnPhonePickupSay run; the same call_id again
  is a 200 replay that fires nothing.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.actors import Actor
from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from automations.services.conversations import (
    call_pickup,
    conversation_close,
    conversation_escalate,
)
from config.exceptions import NotFound
from config.responses import ok
from contacts.models import Conversation
from outreach.params import EmailAddressField, PhoneField


class EscalateSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    to = EmailAddressField(required=False, default="")


class EscalationStartedSerializer(serializers.Serializer):
    status = serializers.CharField()
    conversation_id = serializers.CharField()
    escalation_status = serializers.CharField()
    run_id = serializers.IntegerField()


class ClosedSerializer(serializers.Serializer):
    status = serializers.CharField()
    conversation_id = serializers.CharField()
    conversation_status = serializers.CharField()
    run_id = serializers.IntegerField()


class PickupSerializer(serializers.Serializer):
    to = PhoneField()
    call_id = serializers.CharField(max_length=255)
    transcript = serializers.CharField(required=False, allow_blank=True, default="")


PickupSerializer._declared_fields["from"] = PhoneField()  # "from" is a keyword


class PickupRecordedSerializer(serializers.Serializer):
    status = serializers.CharField()
    conversation_id = serializers.CharField()
    contact_id = serializers.CharField(allow_null=True)
    run_id = serializers.IntegerField(allow_null=True)
    replayed = serializers.BooleanField()


class ConversationEventView(WorkspaceScopedMixin, APIView):
    required_scopes = {"POST": Scope.CONTACTS_WRITE}

    def conversation(self, conversation_id: str) -> Conversation:
        found = (
            Conversation.objects.for_workspace(self.workspace)
            .select_related("contact")
            .filter(public_id=conversation_id)
            .first()
        )
        if found is None:
            raise NotFound(f"No conversation {conversation_id}.")
        return found


class EscalateView(ConversationEventView):
    @extend_schema(
        request=EscalateSerializer,
        responses={202: EscalationStartedSerializer},
        operation_id="conversation_escalate",
        tags=["conversations"],
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = self.conversation(conversation_id)
        body = EscalateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = conversation_escalate(
            workspace=self.workspace,
            actor=Actor.for_api_key(self.api_key),
            conversation=conversation,
            reason=body.validated_data["reason"],
            to=body.validated_data["to"],
        )
        return Response(
            ok(
                conversation_id=conversation.public_id,
                escalation_status=conversation.escalation_status,
                run_id=run.pk,
            ),
            status=status.HTTP_202_ACCEPTED,
        )


class CloseView(ConversationEventView):
    @extend_schema(
        request=None,
        responses={200: ClosedSerializer},
        operation_id="conversation_close",
        tags=["conversations"],
    )
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = self.conversation(conversation_id)
        run = conversation_close(
            workspace=self.workspace,
            actor=Actor.for_api_key(self.api_key),
            conversation=conversation,
        )
        return Response(
            ok(
                conversation_id=conversation.public_id,
                conversation_status=conversation.status,
                run_id=run.pk,
            )
        )


class CallPickupView(WorkspaceScopedMixin, APIView):
    required_scopes = {"POST": Scope.CONTACTS_WRITE}

    @extend_schema(
        request=PickupSerializer,
        responses={201: PickupRecordedSerializer, 200: PickupRecordedSerializer},
        operation_id="call_pickup",
        tags=["conversations"],
    )
    def post(self, request: Request) -> Response:
        body = PickupSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        conversation, run = call_pickup(
            workspace=self.workspace,
            actor=Actor.for_api_key(self.api_key),
            from_number=data["from"],
            to_number=data["to"],
            call_id=data["call_id"],
            transcript=data["transcript"],
        )
        return Response(
            ok(
                conversation_id=conversation.public_id,
                contact_id=conversation.contact.public_id if conversation.contact else None,
                run_id=run.pk if run else None,
                replayed=run is None,
            ),
            status=status.HTTP_200_OK if run is None else status.HTTP_201_CREATED,
        )
