"""/v1/webhooks' shapes. Checks of the URL and the event types are the
services' (webhooks.services), run here too so a 400 names every bad field."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.pagination import LimitSkipPaginationSerializer
from config.schema import Envelope
from webhooks.models import Delivery, DeliveryStatus
from webhooks.services import events_problems, url_problems


class WebhookSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    failing_since = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookWithSecretSerializer(WebhookSerializer):
    """Only in the answers to create and rotate-secret."""

    secret = serializers.CharField()


class WebhookWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.CharField(max_length=64), min_length=1)
    description = serializers.CharField(
        max_length=500, allow_blank=True, required=False, default=""
    )

    def validate_url(self, value: str) -> str:
        if problems := url_problems(value):
            raise serializers.ValidationError(problems)
        return value.strip()

    def validate_events(self, value: list[str]) -> list[str]:
        if problems := events_problems(value):
            raise serializers.ValidationError(problems)
        return value


class WebhookUpdateSerializer(WebhookWriteSerializer):
    is_active = serializers.BooleanField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, partial=True, **kwargs)
        self.fields["description"].default = serializers.empty


class DeliverySerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    event_id = serializers.CharField(source="event.public_id")
    type = serializers.CharField(source="event.type")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_retry_at = serializers.SerializerMethodField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_next_retry_at(self, delivery: Delivery) -> str | None:
        if delivery.status != DeliveryStatus.PENDING:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)

    def to_representation(self, delivery: Delivery) -> dict:
        data = super().to_representation(delivery)
        data["last_error"] = data["last_error"] or None
        return data


class WebhookEnvelope(Envelope):
    status = serializers.CharField(default="success")
    webhook = WebhookSerializer()


class WebhookCreatedEnvelope(Envelope):
    status = serializers.CharField(default="success")
    webhook = WebhookWithSecretSerializer()


class WebhookListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    webhooks = WebhookSerializer(many=True)
    pagination = LimitSkipPaginationSerializer()


class DeliveryEnvelope(Envelope):
    status = serializers.CharField(default="success")
    delivery = DeliverySerializer()


class DeliveryListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    deliveries = DeliverySerializer(many=True)
    pagination = LimitSkipPaginationSerializer()
