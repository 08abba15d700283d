"""/v1/webhooks: subscriptions to the workspace's events (scope settings:manage).
docs/api.md "Webhooks" lists the endpoints; README "Webhooks" the events."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action as route
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from config.exceptions import NotFound
from config.pagination import paginate_limit_skip
from config.responses import ok
from config.schema import LIMIT_SKIP_PARAMS
from webhooks import services
from webhooks.api.serializers import (
    DeliveryEnvelope,
    DeliveryListEnvelope,
    DeliverySerializer,
    WebhookCreatedEnvelope,
    WebhookEnvelope,
    WebhookListEnvelope,
    WebhookSerializer,
    WebhookUpdateSerializer,
    WebhookWithSecretSerializer,
    WebhookWriteSerializer,
)
from webhooks.delivery import delivery_send_now
from webhooks.models import Delivery, Subscription

DELIVERY_ID = r"dlv_[0-9a-f]+"


@extend_schema(tags=["webhooks"])
class WebhookViewSet(WorkspaceScopedMixin, viewsets.GenericViewSet):
    """Signed webhooks: where the workspace's events are delivered."""

    queryset = Subscription.objects.all()
    serializer_class = WebhookSerializer
    lookup_url_kwarg = "webhook_id"
    lookup_value_regex = r"wh_[0-9a-f]+"
    required_scopes = {
        "list": Scope.SETTINGS_MANAGE,
        "retrieve": Scope.SETTINGS_MANAGE,
        "create": Scope.SETTINGS_MANAGE,
        "partial_update": Scope.SETTINGS_MANAGE,
        "destroy": Scope.SETTINGS_MANAGE,
        "rotate_secret": Scope.SETTINGS_MANAGE,
        "test": Scope.SETTINGS_MANAGE,
        "deliveries": Scope.SETTINGS_MANAGE,
        "redeliver": Scope.SETTINGS_MANAGE,
    }

    def get_object(self) -> Subscription:
        subscription = self.get_queryset().filter(public_id=self.kwargs["webhook_id"]).first()
        if subscription is None:
            raise NotFound("No such webhook.")
        return subscription

    @extend_schema(parameters=LIMIT_SKIP_PARAMS, responses=WebhookListEnvelope)
    def list(self, request: Request) -> Response:
        rows, pagination = paginate_limit_skip(
            request.query_params, self.get_queryset().order_by("created_at", "id")
        )
        return Response(ok(webhooks=WebhookSerializer(rows, many=True).data, pagination=pagination))

    @extend_schema(request=WebhookWriteSerializer, responses={201: WebhookCreatedEnvelope})
    def create(self, request: Request) -> Response:
        body = WebhookWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = services.subscription_create(
            workspace=self.workspace,
            url=body.validated_data["url"],
            events=body.validated_data["events"],
            description=body.validated_data["description"],
        )
        return Response(
            ok(webhook=WebhookWithSecretSerializer(subscription).data),
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses=WebhookEnvelope)
    def retrieve(self, request: Request, webhook_id: str) -> Response:
        return Response(ok(webhook=WebhookSerializer(self.get_object()).data))

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookEnvelope)
    def partial_update(self, request: Request, webhook_id: str) -> Response:
        """`is_active: true` turns a disabled webhook on again: its waiting deliveries resume."""
        subscription = self.get_object()
        body = WebhookUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = services.subscription_update(
            subscription=subscription, changes=dict(body.validated_data)
        )
        return Response(ok(webhook=WebhookSerializer(subscription).data))

    @extend_schema(responses={200: None})
    def destroy(self, request: Request, webhook_id: str) -> Response:
        services.subscription_delete(subscription=self.get_object())
        return Response(ok(deleted=webhook_id))

    @extend_schema(request=None, responses=WebhookCreatedEnvelope)
    @route(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, webhook_id: str) -> Response:
        subscription = services.subscription_rotate_secret(subscription=self.get_object())
        return Response(ok(webhook=WebhookWithSecretSerializer(subscription).data))

    @extend_schema(request=None, responses=DeliveryEnvelope)
    @route(detail=True, methods=["post"])
    def test(self, request: Request, webhook_id: str) -> Response:
        """Send a `webhook.test` event now, in this request; the answer is its delivery."""
        delivery = services.test_event_record(subscription=self.get_object())
        delivery = delivery_send_now(delivery)
        return Response(ok(delivery=DeliverySerializer(self._delivery(delivery.pk)).data))

    @extend_schema(parameters=LIMIT_SKIP_PARAMS, responses=DeliveryListEnvelope)
    @route(detail=True, methods=["get"])
    def deliveries(self, request: Request, webhook_id: str) -> Response:
        """The delivery log, newest first."""
        subscription = self.get_object()
        rows, pagination = paginate_limit_skip(
            request.query_params,
            Delivery.objects.filter(subscription=subscription)
            .select_related("event")
            .order_by("-id"),
        )
        return Response(
            ok(deliveries=DeliverySerializer(rows, many=True).data, pagination=pagination)
        )

    @extend_schema(request=None, responses={201: DeliveryEnvelope})
    @route(
        detail=True,
        methods=["post"],
        url_path=f"deliveries/(?P<delivery_id>{DELIVERY_ID})/redeliver",
    )
    def redeliver(self, request: Request, webhook_id: str, delivery_id: str) -> Response:
        """Queue the delivery's event again (same webhook-id), due now."""
        subscription = self.get_object()
        delivery = (
            Delivery.objects.filter(subscription=subscription, public_id=delivery_id)
            .select_related("subscription")
            .first()
        )
        if delivery is None:
            raise NotFound("No such delivery.")
        again = services.delivery_redeliver(delivery=delivery)
        return Response(
            ok(delivery=DeliverySerializer(self._delivery(again.pk)).data),
            status=status.HTTP_201_CREATED,
        )

    def _delivery(self, pk: int) -> Delivery:
        return Delivery.objects.select_related("event").get(pk=pk)
