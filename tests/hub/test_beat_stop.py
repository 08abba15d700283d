"""Beat stops on SIGTERM between database calls, never inside one (hub.beat).

Celery's own handler saved the schedule and raised SystemExit wherever the main
thread was; in the middle of a query that left beat exiting with code 1 and a
chain of errors (seen in CI, about 1 stop in 40 locally)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from django_celery_beat.schedulers import DatabaseScheduler

from hub import beat
from hub.models import SchedulerLock

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduler(monkeypatch) -> Iterator[beat.SingleBeatScheduler]:
    # Beat closes stale connections each tick; inside the test's transaction
    # that would close the test's own connection.
    monkeypatch.setattr(beat, "close_old_connections", lambda: None)
    scheduler = beat.SingleBeatScheduler.__new__(beat.SingleBeatScheduler)
    scheduler.holder, scheduler.leading = "beat-a", False
    previous = signal.signal(signal.SIGTERM, scheduler._on_stop_signal)
    try:
        yield scheduler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_during_a_tick_lets_its_database_work_finish_then_stops(scheduler, monkeypatch):
    after_signal = []

    def sending(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at once, here
        after_signal.append(SchedulerLock.objects.get().holder)  # still runs
        return 5.0

    monkeypatch.setattr(DatabaseScheduler, "tick", sending)

    with pytest.raises(SystemExit):
        scheduler.tick()

    assert after_signal == ["beat-a"]
    assert scheduler._busy == 0


def test_a_sigterm_between_ticks_stops_at_once(scheduler):
    started = time.monotonic()
    with pytest.raises(SystemExit):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # Service.start's sleep between ticks
    assert time.monotonic() - started < 5


def test_a_sigterm_while_closing_does_not_interrupt_the_close(scheduler, monkeypatch):
    beat.acquire_beat_lock("beat-a")
    scheduler.leading = True
    closed = []

    def close(self):
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal while stopping
        closed.append(True)

    monkeypatch.setattr(DatabaseScheduler, "close", close)

    scheduler.close()

    assert closed == [True]
    assert not SchedulerLock.objects.exists()  # the lock was released
