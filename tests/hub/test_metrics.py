"""/metrics: access (token, networks, off), the official parser reads it, and the
families move when actions are created, approved and executed."""

from __future__ import annotations

import ipaddress

import prometheus_client.values
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from accounts.actors import Actor
from hub.heartbeats import BEAT, heartbeat_record
from hub.metrics import DatabaseCollector
from outreach import services as outreach_services
from outreach.execution import action_claim_due, action_execute
from outreach.models import ActionStatus

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_CIDRS = []


def scrape(client: Client) -> dict[str, dict[tuple, float]]:
    """Every sample of /metrics: name → {sorted label items: value}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_metrics_are_off_without_a_token_or_networks(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_CIDRS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_a_missing_or_wrong_token_is_refused(client, metrics_on):
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_an_allowed_network_needs_no_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_CIDRS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403


def test_prometheus_client_runs_in_multiprocess_mode():
    assert prometheus_client.values.ValueClass is not prometheus_client.values.MutexValue


def test_families_move_when_actions_are_created_approved_and_executed(
    client, metrics_on, workspace, owner, make_action, django_capture_on_commit_callbacks
):
    ws = workspace.public_id
    before = scrape(client)

    action = make_action(require_approval=True)  # an email
    created = scrape(client)
    assert value(created, "hub_pending_approval", workspace=ws) == 1
    assert value(created, "hub_actions", workspace=ws, status="pending_approval") == 1
    assert value(created, "hub_actions_due", type="send_email") == 0

    with django_capture_on_commit_callbacks(execute=True):
        outreach_services.action_decide(
            action=action, actor=Actor.for_user(owner), decision="approve"
        )
    approved = scrape(client)
    assert value(approved, "hub_pending_approval", workspace=ws) == 0
    assert value(approved, "hub_actions", workspace=ws, status="scheduled") == 1
    assert value(approved, "hub_actions_due", type="send_email") == 1
    assert value(approved, "hub_oldest_due_seconds") >= 0
    assert value(approved, "hub_decision_seconds_count") == (
        value(before, "hub_decision_seconds_count") + 1
    )

    [claim] = action_claim_due(limit=10, action_ids=[action.pk])
    assert action_execute(action_id=claim.action_id, lease_token=claim.lease_token).status == (
        "completed"
    )
    executed = scrape(client)
    assert value(executed, "hub_actions", workspace=ws, status=ActionStatus.COMPLETED) == 1
    assert value(executed, "hub_actions_due", type="send_email") == 0
    assert value(executed, "hub_sends_total", type="send_email", outcome="completed") == (
        value(before, "hub_sends_total", type="send_email", outcome="completed") + 1
    )
    assert value(executed, "hub_send_seconds_count", type="send_email") == (
        value(before, "hub_send_seconds_count", type="send_email") + 1
    )
    assert value(executed, "hub_dispatch_lag_seconds_count") == (
        value(before, "hub_dispatch_lag_seconds_count") + 1
    )


def test_a_send_is_counted_by_its_outcome(client, metrics_on, make_action, sms_identity):
    # No Twilio credentials in the tests: the send does not complete.
    before = scrape(client)
    action = make_action(
        type="send_sms",
        identity=sms_identity,
        params={"recipient_phone": "+14155551234", "message": "Hi"},
        require_approval=False,
    )
    [claim] = action_claim_due(limit=10, action_ids=[action.pk])
    outcome = action_execute(action_id=claim.action_id, lease_token=claim.lease_token).status
    assert outcome in {"failed", "retrying"}
    after = scrape(client)
    assert value(after, "hub_sends_total", type="send_sms", outcome=outcome) == (
        value(before, "hub_sends_total", type="send_sms", outcome=outcome) + 1
    )


def test_the_beat_tick_and_the_backlogs_are_shown(client, metrics_on):
    heartbeat_record(BEAT, force=True)
    samples = scrape(client)
    assert value(samples, "hub_beat_last_tick_timestamp") > 0
    assert value(samples, "hub_worker_last_seen_timestamp") == 0
    for name in (
        "hub_automation_steps_due",
        "hub_automation_steps_oldest_due_seconds",
        "hub_webhook_deliveries_due",
        "hub_webhook_deliveries_oldest_due_seconds",
    ):
        assert name in samples


def test_the_database_gauges_take_a_constant_number_of_queries(
    make_action, other_workspace, django_assert_num_queries
):
    for _ in range(3):
        make_action(type="task", params={"title": "Call back"})
    with django_assert_num_queries(6):
        families = list(DatabaseCollector().collect())
    assert {family.name for family in families} >= {
        "hub_actions",
        "hub_pending_approval",
        "hub_actions_due",
        "hub_oldest_due_seconds",
        "hub_beat_last_tick_timestamp",
    }
