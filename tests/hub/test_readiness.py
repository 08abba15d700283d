"""/readyz: database, broker, beat and a worker; the admin's banner when beat or
the workers are down. /healthz stays the liveness check."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from hub import beat
from hub.heartbeats import BEAT, WORKER, heartbeat_record
from hub.models import Heartbeat
from tests.admin_helpers import logged_in

pytestmark = pytest.mark.django_db


def fresh(*roles: str) -> None:
    for role in roles:
        heartbeat_record(role, force=True)


def test_readyz_is_ready_when_beat_and_a_worker_checked_in(client):
    fresh(BEAT, WORKER)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok", "beat": "ok", "worker": "ok"},
        "missing": [],
    }


def test_readyz_names_beat_and_worker_when_they_never_checked_in(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["missing"] == ["beat", "worker"]
    assert client.get("/healthz").status_code == 200  # liveness does not depend on them


def test_readyz_turns_503_when_the_worker_stops(client):
    fresh(BEAT, WORKER)
    assert client.get("/readyz").status_code == 200
    # The worker stopped: its heartbeat is older than 30 s.
    Heartbeat.objects.filter(role=WORKER).update(seen_at=timezone.now() - dt.timedelta(seconds=31))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["missing"] == ["worker"]
    assert response.json()["checks"]["beat"] == "ok"


def test_readyz_names_an_unreachable_broker(client, settings):
    fresh(BEAT, WORKER)
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["missing"] == ["broker"]


def test_heartbeats_are_throttled_per_process():
    assert heartbeat_record(WORKER, force=True)
    assert not heartbeat_record(WORKER)


def test_the_leading_beat_records_its_tick(monkeypatch):
    from django_celery_beat.schedulers import DatabaseScheduler

    monkeypatch.setattr(beat, "close_old_connections", lambda: None)
    monkeypatch.setattr(beat, "heartbeat_record", lambda role: heartbeat_record(role, force=True))
    monkeypatch.setattr(DatabaseScheduler, "tick", lambda self, *a, **k: 5.0)
    scheduler = beat.SingleBeatScheduler.__new__(beat.SingleBeatScheduler)
    scheduler.holder, scheduler.leading = "beat-a", False
    scheduler.tick()
    assert Heartbeat.objects.filter(role=BEAT).exists()


def test_a_follower_beat_does_not_check_in(monkeypatch):
    monkeypatch.setattr(beat, "close_old_connections", lambda: None)
    beat.acquire_beat_lock("beat-a")
    scheduler = beat.SingleBeatScheduler.__new__(beat.SingleBeatScheduler)
    scheduler.holder, scheduler.leading = "beat-b", False
    scheduler.tick()
    assert not Heartbeat.objects.filter(role=BEAT).exists()


def test_the_admin_shows_a_banner_when_beat_or_the_workers_are_down(admin_user):
    client = logged_in(admin_user)
    page = client.get("/admin/").content.decode()
    assert "Beat is down" in page
    assert "No worker has checked in" in page

    fresh(BEAT)
    page = client.get("/admin/").content.decode()
    assert "Beat is down" not in page
    assert "No worker has checked in" in page

    fresh(WORKER)
    page = client.get("/admin/").content.decode()
    assert 'id="ops-warnings"' not in page
