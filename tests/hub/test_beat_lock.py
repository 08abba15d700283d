"""Only one beat sends periodic tasks."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from hub.beat import LOCK_NAME, acquire_beat_lock, release_beat_lock
from hub.models import SchedulerLock

pytestmark = pytest.mark.django_db


def test_the_first_beat_leads_and_a_second_does_nothing():
    assert acquire_beat_lock("beat-a")
    assert not acquire_beat_lock("beat-b")
    assert acquire_beat_lock("beat-a")  # renewal
    assert SchedulerLock.objects.get(name=LOCK_NAME).holder == "beat-a"


def test_an_expired_lock_is_taken_over():
    assert acquire_beat_lock("beat-a")
    SchedulerLock.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert acquire_beat_lock("beat-b")
    assert not acquire_beat_lock("beat-a")


def test_a_released_lock_is_free():
    acquire_beat_lock("beat-a")
    release_beat_lock("beat-a")
    assert acquire_beat_lock("beat-b")


def test_a_follower_scheduler_sends_nothing(monkeypatch):
    from django_celery_beat.schedulers import DatabaseScheduler

    from hub import beat
    from hub.beat import SingleBeatScheduler

    # Beat closes stale connections each tick; inside the test's transaction
    # that would close the test's own connection.
    monkeypatch.setattr(beat, "close_old_connections", lambda: None)
    sent = []
    monkeypatch.setattr(DatabaseScheduler, "tick", lambda self, *a, **k: sent.append(1) or 5.0)
    scheduler = SingleBeatScheduler.__new__(SingleBeatScheduler)
    scheduler.holder, scheduler.leading = "beat-b", False
    acquire_beat_lock("beat-a")
    assert scheduler.tick() == 1.0
    assert sent == []
    release_beat_lock("beat-a")
    assert scheduler.tick() == 1.0
    assert sent == [1]
    assert scheduler.leading
