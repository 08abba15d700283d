"""Delivering the outbox: claim due deliveries, send each signed, record the outcome.

`deliveries_dispatch` is what the periodic task `webhooks.dispatch_deliveries`
runs every second:
1. leases that expired (a worker died or hung mid-send) go back to pending, due
   now: nothing is lost, and the receiver may see an attempt twice, with the same
   webhook-id, which is what it de-duplicates on;
2. claim up to WEBHOOK_BATCH_SIZE due pending deliveries of active
   subscriptions with config.queue.claim_due (FOR UPDATE SKIP LOCKED on
   PostgreSQL), only those with no older undelivered delivery of the same
   (subscription, resource): one action's events reach a subscriber in order;
3. send each, outside any transaction, through automations.outbound's SSRF-safe
   client, signed per Standard Webhooks (the `standardwebhooks` package):
   `webhook-id` (the event's msg_ id, stable across attempts),
   `webhook-timestamp` (this attempt, Unix seconds), `webhook-signature`
   (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`);
4. record: a 2xx is delivered (and the subscription's failure clock stops);
   anything else, a timeout or a refused address is retried after
   RETRY_SCHEDULE[attempt] seconds, ±20 % jitter (a Retry-After is honoured
   when longer). When the subscription has been failing for
   WEBHOOK_DISABLE_AFTER_SECONDS (5 days), it is disabled, the delivery is
   marked failed and the workspace's admins are emailed. Its other deliveries
   wait, pending, until someone turns it back on.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from standardwebhooks import Webhook

from accounts.models import Membership, Role
from automations.outbound import BlockedDestination, OutboundError, safe_request
from config.queue import claim_due, parse_retry_after
from webhooks.models import UNDELIVERED, Delivery, DeliveryStatus, Subscription
from webhooks.services import subscription_disable

logger = logging.getLogger("webhooks.delivery")

# Seconds before attempt n+1 after n failed attempts; the last value repeats. The
# first seven span about 7.6 hours, so retries go on for well over 24 hours
# (until the subscription is disabled after 5 days of failures).
RETRY_SCHEDULE = (5, 60, 300, 1800, 7200, 18000, 36000)
USER_AGENT = "outreach-hub-webhooks/1"


def retry_delay(attempts: int, retry_after: float | None = None) -> float:
    base = RETRY_SCHEDULE[min(max(attempts, 1), len(RETRY_SCHEDULE)) - 1]
    return max(base * random.uniform(0.8, 1.2), min(retry_after or 0, 36000))


@dataclass
class Result:
    delivered: bool
    status_code: int | None = None
    error: str = ""
    retry_after: float | None = None


def lease_seconds() -> int:
    return settings.WEBHOOK_TIMEOUT_SECONDS * settings.WEBHOOK_BATCH_SIZE + 30


def deliveries_reclaim_expired(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return Delivery.objects.filter(
        status=DeliveryStatus.DELIVERING, lease_expires_at__lt=now
    ).update(
        status=DeliveryStatus.PENDING, lease_token=None, lease_expires_at=None, next_attempt_at=now
    )


def due_deliveries(now: datetime):
    older = Delivery.objects.filter(
        subscription_id=OuterRef("subscription_id"),
        resource=OuterRef("resource"),
        status__in=UNDELIVERED,
        id__lt=OuterRef("id"),
    )
    return (
        Delivery.objects.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now,
            subscription__is_active=True,
        )
        .exclude(Exists(older))
        .order_by("next_attempt_at", "id")
    )


def deliveries_claim(*, limit: int, only: list[int] | None = None) -> list[Delivery]:
    now = timezone.now()
    with transaction.atomic():
        due = due_deliveries(now)
        if only is not None:
            due = due.filter(pk__in=only)
        _, rows = claim_due(
            due,
            limit=limit,
            waiting=DeliveryStatus.PENDING,
            claimed=DeliveryStatus.DELIVERING,
            lease_expires_at=now + timedelta(seconds=lease_seconds()),
        )
        return list(rows.select_related("event", "subscription").order_by("id"))


def signed_request(delivery: Delivery) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(delivery.event.payload, separators=(",", ":")).encode()
    now = timezone.now()
    msg_id = delivery.event.public_id
    signature = Webhook(delivery.subscription.secret).sign(msg_id, now, body.decode())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return body, headers


def send(delivery: Delivery) -> Result:
    body, headers = signed_request(delivery)
    try:
        response = safe_request(
            "POST",
            delivery.subscription.url,
            headers=headers,
            content=body,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            max_redirects=0,
            max_response_bytes=64_000,
        )
    except BlockedDestination as exc:
        return Result(False, error=str(exc))
    except OutboundError as exc:
        return Result(False, error=str(exc))
    if 200 <= response.status_code < 300:
        return Result(True, response.status_code)
    return Result(
        False,
        response.status_code,
        error=f"HTTP {response.status_code}: {response.text[:200]}",
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def delivery_record(delivery: Delivery, result: Result) -> Delivery | None:
    """Store one attempt's outcome, if this worker still holds the lease."""
    now = timezone.now()
    with transaction.atomic():
        locked = (
            Delivery.objects.select_for_update()
            .filter(pk=delivery.pk, lease_token=delivery.lease_token)
            .first()
        )
        if locked is None:
            return None  # the lease expired and another worker took it over
        subscription = Subscription.objects.select_for_update().get(pk=locked.subscription_id)
        locked.attempts += 1
        locked.last_attempt_at = now
        locked.last_status_code = result.status_code
        locked.last_error = result.error[:2000]
        locked.lease_token = None
        locked.lease_expires_at = None
        if result.delivered:
            locked.status = DeliveryStatus.DELIVERED
            locked.delivered_at = now
            if subscription.failing_since is not None:
                subscription.failing_since = None
                subscription.save(update_fields=["failing_since", "updated_at"])
        else:
            if subscription.failing_since is None:
                subscription.failing_since = now
                subscription.save(update_fields=["failing_since", "updated_at"])
            failing_for = (now - subscription.failing_since).total_seconds()
            if subscription.is_active and failing_for >= settings.WEBHOOK_DISABLE_AFTER_SECONDS:
                locked.status = DeliveryStatus.FAILED
                subscription_disable(subscription=subscription)
                transaction.on_commit(lambda: admins_notify(subscription.pk))
            else:  # retried later (a disabled subscription's wait for it to be enabled)
                locked.status = DeliveryStatus.PENDING
                locked.next_attempt_at = now + timedelta(
                    seconds=retry_delay(locked.attempts, result.retry_after)
                )
        locked.save()
    logger.info(
        "webhook_delivery delivery=%s event=%s status=%s code=%s attempts=%d",
        locked.public_id,
        delivery.event.public_id,
        locked.status,
        result.status_code,
        locked.attempts,
    )
    return locked


def admins_notify(subscription_id: int) -> None:
    """Email the workspace's admins that their subscription was disabled."""
    subscription = Subscription.objects.filter(pk=subscription_id).first()
    if subscription is None:
        return
    emails = sorted(
        email
        for email in Membership.objects.filter(
            workspace_id=subscription.workspace_id, role=Role.ADMIN
        ).values_list("user__email", flat=True)
        if email
    )
    if not emails:
        return
    days = settings.WEBHOOK_DISABLE_AFTER_SECONDS / 86400
    send_mail(
        subject=f"Webhook {subscription.public_id} disabled after failing for {days:g} days",
        message=(
            f"Deliveries to {subscription.url} ({subscription.public_id}) have failed since "
            f"{subscription.failing_since:%Y-%m-%d %H:%M} UTC, so the subscription was "
            "disabled. Its undelivered events are kept: fix the receiver, then turn the "
            'subscription back on (PATCH /v1/webhooks/{id} {"is_active": true}) and they '
            "are delivered in order."
        ),
        from_email=None,
        recipient_list=emails,
        fail_silently=True,
    )


def deliveries_send(deliveries: list[Delivery]) -> list[Delivery]:
    done = []
    for delivery in deliveries:
        recorded = delivery_record(delivery, send(delivery))
        if recorded is not None:
            done.append(recorded)
    return done


def deliveries_dispatch(*, limit: int | None = None) -> int:
    """One tick (see the module docstring). Returns how many were attempted."""
    deliveries_reclaim_expired()
    claimed = deliveries_claim(limit=limit or settings.WEBHOOK_BATCH_SIZE)
    return len(deliveries_send(claimed))


def delivery_send_now(delivery: Delivery) -> Delivery:
    """Attempt one delivery at once (the test endpoint); if a worker got it
    first, it is returned as it stands."""
    claimed = deliveries_claim(limit=1, only=[delivery.pk])
    sent = deliveries_send(claimed) if claimed else []
    # Nothing claimed (a worker got it first) or nothing recorded (the lease was
    # lost mid-send): the delivery as it stands.
    return sent[0] if sent else Delivery.objects.get(pk=delivery.pk)
