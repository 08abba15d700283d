"""What /metrics shows: the processes' counters and histograms (config.metrics,
added up over every process's files) and gauges of database state, computed at
scrape time with a constant number of queries (DatabaseCollector).

The `workspace` label is the workspace's public id (`ws_…`): public, stable
across renames, and bounded by the number of tenants. No other label carries an
id or an address: action types, statuses and outcome words only.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from accounts.models import Workspace
from automations.models import HookStep, StepStatus
from hub.heartbeats import BEAT, WORKER, heartbeats_seen
from outreach.models import Action, ActionStatus, ActionType
from webhooks.models import Delivery, DeliveryStatus


def _lateness(oldest, now) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


class DatabaseCollector(Collector):
    """Gauges of the database's state at scrape time: six queries, however many
    workspaces, actions, steps or deliveries there are."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        workspaces = list(Workspace.objects.values_list("public_id", flat=True))
        counts = {
            (row["workspace__public_id"], row["status"]): row["n"]
            for row in Action.objects.order_by()
            .values("workspace__public_id", "status")
            .annotate(n=Count("id"))
        }
        actions = GaugeMetricFamily(
            "hub_actions", "Actions by workspace and status.", labels=["workspace", "status"]
        )
        pending = GaugeMetricFamily(
            "hub_pending_approval", "Actions awaiting approval.", labels=["workspace"]
        )
        for workspace in workspaces:
            for status in ActionStatus.values:
                actions.add_metric([workspace, status], counts.get((workspace, status), 0))
            pending.add_metric(
                [workspace], counts.get((workspace, ActionStatus.PENDING_APPROVAL), 0)
            )
        yield actions
        yield pending

        due = {
            row["type"]: (row["n"], row["oldest"])
            for row in Action.objects.order_by()
            .filter(status=ActionStatus.SCHEDULED, scheduled_time__lte=now)
            .values("type")
            .annotate(n=Count("id"), oldest=Min("scheduled_time"))
        }
        due_family = GaugeMetricFamily(
            "hub_actions_due", "Scheduled actions due but not started, by type.", labels=["type"]
        )
        for action_type in ActionType.values:
            due_family.add_metric([action_type], due.get(action_type, (0, None))[0])
        yield due_family
        oldest = min((when for _, when in due.values()), default=None)
        yield GaugeMetricFamily(
            "hub_oldest_due_seconds",
            "How late the oldest due, not started action is (0: none is due).",
            value=_lateness(oldest, now),
        )

        steps = HookStep.objects.filter(status=StepStatus.PENDING, due_at__lte=now).aggregate(
            n=Count("id"), oldest=Min("due_at")
        )
        yield GaugeMetricFamily(
            "hub_automation_steps_due", "Automation steps due and not run.", value=steps["n"]
        )
        yield GaugeMetricFamily(
            "hub_automation_steps_oldest_due_seconds",
            "How late the oldest due automation step is (0: none is due).",
            value=_lateness(steps["oldest"], now),
        )

        deliveries = Delivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        ).aggregate(n=Count("id"), oldest=Min("next_attempt_at"))
        yield GaugeMetricFamily(
            "hub_webhook_deliveries_due",
            "Webhook deliveries due and not sent.",
            value=deliveries["n"],
        )
        yield GaugeMetricFamily(
            "hub_webhook_deliveries_oldest_due_seconds",
            "How late the oldest due webhook delivery is (0: none is due).",
            value=_lateness(deliveries["oldest"], now),
        )

        seen = heartbeats_seen()
        for role, name, help_text in (
            (BEAT, "hub_beat_last_tick_timestamp", "When beat last ticked (Unix time; 0: never)."),
            (
                WORKER,
                "hub_worker_last_seen_timestamp",
                "When a worker last checked in (Unix time; 0: never).",
            ),
        ):
            when = seen.get(role)
            yield GaugeMetricFamily(name, help_text, value=when.timestamp() if when else 0.0)


def metrics_text() -> bytes:
    """The Prometheus text exposition of every process's metrics and the gauges."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
