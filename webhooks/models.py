"""Webhook subscriptions, the outbox of events, and one delivery per (event,
subscription). README "Webhooks" says what integrators see; docs/api.md the
endpoints.

- `Subscription`: where a workspace's events go. `secret` (`whsec_` + base64 of
  32 random bytes, the Standard Webhooks format) is stored encrypted and shown
  only when created or rotated. `failing_since` is the time of the first failed
  attempt since the last success; a subscription failing for
  WEBHOOK_DISABLE_AFTER_SECONDS (5 days) is disabled (`is_active` off,
  `disabled_at` set) and the workspace's admins are emailed.
- `Event`: the outbox row, written in the transaction of the change it reports
  (webhooks/receivers.py). `payload` is the body sent, frozen at that moment:
  {"type", "timestamp", "data"}. `public_id` (`msg_…`) is the webhook-id header,
  the same on every attempt, so receivers de-duplicate. `resource`
  (`action:act_…`, `contact:ct_…`, `enrollment:42`) orders deliveries.
- `Delivery`: one event to one subscription; a queue row for config.queue's
  claim_due (pending → delivering under a lease → delivered, or back to pending
  with `next_attempt_at` later; failed when the subscription gave up, until it
  is turned on again and the delivery is pending, due now, once more). Only the
  oldest undelivered delivery of a (subscription, resource) is ever claimed, so
  one action's events reach a subscriber in the order they happened.
"""

from __future__ import annotations

import base64
import secrets
from functools import partial

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from accounts.models import WorkspaceOwned, new_public_id
from config.crypto import EncryptedTextField


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Subscription(WorkspaceOwned):
    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "wh"))
    url = models.CharField(max_length=2000)  # checked by webhooks.services.url_problems
    events = models.JSONField(default=list)
    description = models.CharField(max_length=500, blank=True)
    secret = EncryptedTextField(default=new_secret)
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["workspace", "is_active"], name="webhook_sub_ws_active")]

    def __str__(self) -> str:
        return f"{self.public_id} → {self.url}"


class Event(WorkspaceOwned):
    public_id = models.CharField(max_length=40, unique=True, default=partial(new_public_id, "msg"))
    type = models.CharField(max_length=64)
    resource = models.CharField(max_length=80)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERING = "delivering", "Delivering"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


# Not yet delivered nor given up: these hold back later events of their resource.
UNDELIVERED = (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)


class Delivery(WorkspaceOwned):
    public_id = models.CharField(max_length=40, unique=True, default=partial(new_public_id, "dlv"))
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    resource = models.CharField(max_length=80)  # the event's, for the ordering query
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            # The claim: due pending rows (and expired leases to reclaim).
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhook_dlv_due",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="delivering"),
                name="webhook_dlv_leased",
            ),
            # Per-resource order: is an older delivery still undelivered?
            models.Index(
                fields=["subscription", "resource", "id"],
                condition=Q(status__in=UNDELIVERED),
                name="webhook_dlv_order",
            ),
            # The delivery log, newest first.
            models.Index(fields=["subscription", "-id"], name="webhook_dlv_log"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"
