"""The webhooks admin: subscriptions with their recent deliveries, and the
delivery log with a Redeliver button (the same service as the API's redeliver).

Subscriptions are created through the API (POST /v1/webhooks), which shows the
secret once; here they are read, switched on or off, re-pointed or deleted.
Every write goes through webhooks.services. Tenancy as accounts.admin.common:
staff see only their workspaces' rows.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from accounts.admin.common import ReadOnlyInline, WorkspaceScopedAdmin
from config.exceptions import DomainError
from webhooks import services
from webhooks.models import UNDELIVERED, Delivery, Subscription

DELIVERY_FIELDS = (
    "public_id",
    "event",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "next_attempt_at",
    "delivered_at",
)


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = DELIVERY_FIELDS
    show_change_link = True
    ordering = ["-id"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("event")


@admin.register(Subscription)
class SubscriptionAdmin(WorkspaceScopedAdmin):
    list_display = ("public_id", "url", "workspace", "is_active", "failing_since", "created_at")
    list_filter = ("is_active",)
    search_fields = ("public_id", "url", "description")
    fields = (
        "public_id",
        "workspace",
        "url",
        "events",
        "description",
        "is_active",
        "disabled_at",
        "failing_since",
        "created_at",
    )
    readonly_fields = ("public_id", "workspace", "disabled_at", "failing_since", "created_at")
    inlines = [DeliveryInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # POST /v1/webhooks: the secret is shown there, once

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.subscription_update(subscription=obj, changes=changes)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(Delivery)
class DeliveryAdmin(WorkspaceScopedAdmin):
    list_display = (
        "public_id",
        "event_type",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status",)
    search_fields = ("public_id", "event__public_id", "resource")
    list_select_related = ("event", "subscription")
    fields = (*DELIVERY_FIELDS, "subscription", "resource", "payload")
    readonly_fields = fields
    actions = ["redeliver"]
    change_form_template = "admin/webhooks/delivery/change_form.html"

    @admin.display(description="Event")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.display(description="Body")
    def payload(self, delivery: Delivery) -> Any:
        return delivery.event.payload

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("webhooks.view_delivery") or request.user.has_perm(
            "webhooks.change_delivery"
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        delivery = self.get_object(request, object_id)
        extra = {
            **(extra_context or {}),
            "can_redeliver": delivery is not None and delivery.status not in UNDELIVERED,
        }
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        redeliver = self.admin_site.admin_view(require_POST(self.redeliver_view))
        return [
            path("<int:pk>/redeliver/", redeliver, name="webhooks_delivery_redeliver"),
            *super().get_urls(),
        ]

    def _redeliver(self, request: HttpRequest, delivery: Delivery) -> Delivery | None:
        try:
            again = services.delivery_redeliver(delivery=delivery)
        except DomainError as exc:
            self.message_user(request, f"{delivery.public_id}: {exc.message}", messages.ERROR)
            return None
        self.message_user(
            request, f"{delivery.public_id}: redelivery {again.public_id} queued.", messages.SUCCESS
        )
        return again

    def redeliver_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        delivery = get_object_or_404(
            self.get_queryset(request).select_related("subscription"), pk=pk
        )
        again = self._redeliver(request, delivery)
        target = again or delivery
        return HttpResponseRedirect(reverse("admin:webhooks_delivery_change", args=[target.pk]))

    @admin.action(description="Redeliver the selected deliveries")
    def redeliver(self, request: HttpRequest, queryset) -> None:
        for delivery in queryset.select_related("subscription"):
            self._redeliver(request, delivery)
