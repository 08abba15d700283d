"""Every write of webhooks: subscriptions, the outbox, redeliveries.

`events_record` is the outbox: called inside the transaction of the change it
reports (webhooks/receivers.py), it writes one Event per reported change that at
least one active subscription of its workspace wants, and one Delivery per
(event, wanting subscription), in one INSERT each. A workspace without a
matching subscription costs one query and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from config.exceptions import Conflict, ValidationFailed
from webhooks.events import ALL, EVENT_TYPES, TEST_EVENT, wants
from webhooks.models import (
    UNDELIVERED,
    Delivery,
    DeliveryStatus,
    Event,
    Subscription,
    new_secret,
)


@dataclass(frozen=True)
class NewEvent:
    """A change to report: `data` is the resource as its read endpoint shows it."""

    workspace_id: int
    type: str
    resource: str
    data: dict


# --- validation -----------------------------------------------------------------------------
def url_problems(url: object) -> list[str]:
    """Why `url` cannot be a subscription's URL (empty when it can). The address
    itself is vetted at each delivery by automations.outbound."""
    if not isinstance(url, str) or not url.strip():
        return ["A URL is required."]
    if len(url) > 2000:
        return ["At most 2000 characters."]
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        return ["Must be an http(s) URL."]
    if not parts.hostname:
        return ["The URL has no host."]
    if parts.username or parts.password:
        return ["Credentials in the URL are not allowed."]
    if parts.scheme != "https" and settings.WEBHOOKS_REQUIRE_HTTPS:
        return ["Must be an https URL."]
    return []


def events_problems(events: object) -> list[str]:
    if not isinstance(events, list) or not events:
        return ['Give a non-empty list of event types, or ["*"].']
    unknown = [e for e in events if not isinstance(e, str) or e not in (*EVENT_TYPES, ALL)]
    if unknown:
        return [f"Unknown event type: {e!r}." for e in unknown]
    return []


# --- subscriptions --------------------------------------------------------------------------
def subscription_create(
    *, workspace: Workspace, url: str, events: list[str], description: str = ""
) -> Subscription:
    errors = {}
    if problems := url_problems(url):
        errors["url"] = problems
    if problems := events_problems(events):
        errors["events"] = problems
    ValidationFailed.raise_for(errors)
    return Subscription.objects.create(
        workspace=workspace,
        url=url.strip(),
        events=list(dict.fromkeys(events)),
        description=description,
    )


def subscription_update(*, subscription: Subscription, changes: dict) -> Subscription:
    """`changes` may hold url, events, description, is_active. Turning a disabled
    subscription on again forgets its failures and resumes its deliveries, due
    now and in order: the pending ones (some waiting out a long backoff) and the
    one marked failed when it was disabled, which goes first again (its id is
    the oldest of its resource's)."""
    errors = {}
    if "url" in changes and (problems := url_problems(changes["url"])):
        errors["url"] = problems
    if "events" in changes and (problems := events_problems(changes["events"])):
        errors["events"] = problems
    ValidationFailed.raise_for(errors)
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if "url" in changes:
            locked.url = changes["url"].strip()
        if "events" in changes:
            locked.events = list(dict.fromkeys(changes["events"]))
        if "description" in changes:
            locked.description = changes["description"]
        if "is_active" in changes and changes["is_active"] != locked.is_active:
            locked.is_active = changes["is_active"]
            locked.disabled_at = None if locked.is_active else timezone.now()
            locked.failing_since = None
            if locked.is_active:
                Delivery.objects.filter(
                    subscription=locked,
                    status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED),
                ).update(status=DeliveryStatus.PENDING, next_attempt_at=timezone.now())
        locked.save()
    return locked


def subscription_delete(*, subscription: Subscription) -> None:
    """Its deliveries go with it (events other subscriptions got stay)."""
    subscription.delete()


def subscription_rotate_secret(*, subscription: Subscription) -> Subscription:
    """A new secret signs every delivery from now on, retries included."""
    subscription.secret = new_secret()
    subscription.save(update_fields=["secret", "updated_at"])
    return subscription


def subscription_disable(*, subscription: Subscription) -> None:
    """Called by the dispatcher on a locked subscription that failed too long."""
    subscription.is_active = False
    subscription.disabled_at = timezone.now()
    subscription.save(update_fields=["is_active", "disabled_at", "updated_at"])


# --- the outbox -----------------------------------------------------------------------------
def subscriptions_by_workspace(workspace_ids: set[int]) -> dict[int, list[Subscription]]:
    """Active subscriptions of these workspaces, in one query."""
    found: dict[int, list[Subscription]] = {}
    subscriptions = Subscription.objects.filter(
        workspace_id__in=workspace_ids, is_active=True
    ).only("id", "workspace_id", "events")
    for subscription in subscriptions:
        found.setdefault(subscription.workspace_id, []).append(subscription)
    return found


def body_of(event_type: str, data: dict, when=None) -> dict:
    return {
        "type": event_type,
        "timestamp": (when or timezone.now()).isoformat().replace("+00:00", "Z"),
        "data": data,
    }


def events_record(
    *,
    events: Sequence[NewEvent],
    subscriptions: dict[int, list[Subscription]] | None = None,
) -> list[Event]:
    """Write the outbox rows for `events` (see the module docstring). Must run in
    the transaction of the change. `subscriptions` (from
    `subscriptions_by_workspace`) saves the lookup when the caller has it."""
    if not events:
        return []
    if subscriptions is None:
        subscriptions = subscriptions_by_workspace({e.workspace_id for e in events})
    now = timezone.now()
    rows: list[Event] = []
    targets: list[list[Subscription]] = []
    for new in events:
        wanting = [s for s in subscriptions.get(new.workspace_id, ()) if wants(s.events, new.type)]
        if not wanting:
            continue
        rows.append(
            Event(
                workspace_id=new.workspace_id,
                type=new.type,
                resource=new.resource,
                payload=body_of(new.type, new.data, now),
            )
        )
        targets.append(wanting)
    if not rows:
        return []
    rows = Event.objects.bulk_create(rows)
    Delivery.objects.bulk_create(
        [
            Delivery(
                workspace_id=event.workspace_id,
                event=event,
                subscription=subscription,
                resource=event.resource,
                next_attempt_at=now,
            )
            for event, wanting in zip(rows, targets, strict=True)
            for subscription in wanting
        ]
    )
    return rows


def test_event_record(*, subscription: Subscription) -> Delivery:
    """A webhook.test event for this one subscription, due now."""
    now = timezone.now()
    data = {"webhook_id": subscription.public_id, "message": "This is a test event."}
    with transaction.atomic():
        event = Event.objects.create(
            workspace_id=subscription.workspace_id,
            type=TEST_EVENT,
            resource=f"webhook:{subscription.public_id}:test",
            payload=body_of(TEST_EVENT, data, now),
        )
        return Delivery.objects.create(
            workspace_id=subscription.workspace_id,
            event=event,
            subscription=subscription,
            resource=event.resource + f":{event.public_id}",  # ordered after nothing
            next_attempt_at=now,
        )


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a delivered or failed delivery's event again: a new delivery of the
    same event (same webhook-id), due now; the old row stays in the log. 409
    while the delivery is still pending or delivering, or the subscription is
    disabled."""
    if delivery.status in UNDELIVERED:
        raise Conflict(
            f"Delivery {delivery.public_id} is {delivery.status}; it will be retried on its own.",
            code="delivery_pending",
        )
    if not delivery.subscription.is_active:
        raise Conflict(
            "The subscription is disabled; enable it (is_active: true) first.",
            code="webhook_disabled",
        )
    return Delivery.objects.create(
        workspace_id=delivery.workspace_id,
        event_id=delivery.event_id,
        subscription_id=delivery.subscription_id,
        resource=delivery.resource,
        next_attempt_at=timezone.now(),
    )


__all__ = [
    "DeliveryStatus",
    "NewEvent",
    "delivery_redeliver",
    "events_record",
    "subscription_create",
    "subscription_delete",
    "subscription_disable",
    "subscription_rotate_secret",
    "subscription_update",
    "subscriptions_by_workspace",
    "test_event_record",
]
