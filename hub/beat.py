"""A beat scheduler that only sends periodic tasks while it holds the leader lock.

Two `celery beat` processes (a deploy overlap, a mistake) would otherwise send
every periodic task twice. The lock is a row (hub.models.SchedulerLock) taken
with a conditional UPDATE whose row count is checked, on PostgreSQL and SQLite
alike: the holder renews it every tick; another process may take it only once
it has expired (its holder died). A process without the lock sends nothing.

Stopping: Celery's beat answers SIGTERM/SIGINT by saving the schedule and
raising SystemExit from inside the signal handler, wherever the main thread is.
When that is the middle of a database call (beat saves its entries' run counts
while sending), the handler's own queries and `close_old_connections` ran on
the connection under it, and beat died with a chain of errors and exit code 1
instead of stopping. The scheduler installs its own handler instead: between
ticks (asleep) it stops at once; during a tick or a save it only notes the
request, and the tick raises SystemExit once its database work is done.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from celery import platforms
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from hub.heartbeats import BEAT, heartbeat_record
from hub.models import SchedulerLock

logger = logging.getLogger("hub.beat")

LOCK_NAME = "celery-beat"
LOCK_TTL = timedelta(seconds=15)


def acquire_beat_lock(holder: str, *, ttl: timedelta = LOCK_TTL) -> bool:
    """Take or renew the lock for `holder`. True when `holder` holds it."""
    now = timezone.now()
    taken = SchedulerLock.objects.filter(name=LOCK_NAME, holder=holder).update(
        expires_at=now + ttl
    ) or SchedulerLock.objects.filter(name=LOCK_NAME, expires_at__lt=now).update(
        holder=holder, expires_at=now + ttl
    )
    if taken:
        return True
    try:
        with transaction.atomic():
            SchedulerLock.objects.create(name=LOCK_NAME, holder=holder, expires_at=now + ttl)
        return True
    except IntegrityError:
        return False  # someone else holds an unexpired lock


def release_beat_lock(holder: str) -> None:
    SchedulerLock.objects.filter(name=LOCK_NAME, holder=holder).delete()


class SingleBeatScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, gated by the leader lock, and
    stopped by SIGTERM/SIGINT only between its database calls (module docstring)."""

    follower_sleep = 1.0
    # Class defaults, so a scheduler built without __init__ (the tests) has them.
    _busy = 0
    _stop_requested = False

    def __init__(self, *args, **kwargs) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        # The banner's throwaway instance is lazy; the one that runs is not, and is
        # built after Celery installed its handler, so this one replaces it.
        if not kwargs.get("lazy") and threading.current_thread() is threading.main_thread():
            platforms.signals.update(SIGTERM=self._on_stop_signal, SIGINT=self._on_stop_signal)
        with self._database_work():
            super().__init__(*args, **kwargs)

    def _on_stop_signal(self, signum, frame) -> None:
        if self._busy:
            self._stop_requested = True  # the tick under way stops once its work is done
            return
        raise SystemExit()  # asleep between ticks: Service.start closes the scheduler

    @contextmanager
    def _database_work(self) -> Iterator[None]:
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
        if self._stop_requested and not self._busy:
            raise SystemExit()

    def tick(self, *args, **kwargs):
        with self._database_work():
            return self._tick(*args, **kwargs)

    def _tick(self, *args, **kwargs):
        close_old_connections()
        try:
            leading = acquire_beat_lock(self.holder)
        except Exception:
            logger.exception("beat lock: database unavailable; not sending")
            leading = False
        if leading != self.leading:
            # Taking the lock is the normal start; losing it means another beat took over.
            log = logger.info if leading else logger.warning
            log("beat %s %s the leader lock", self.holder, "took" if leading else "lost")
            self.leading = leading
        if not leading:
            return self.follower_sleep
        try:
            heartbeat_record(BEAT)  # /readyz: beat is sending (throttled to every few seconds)
        except Exception:
            logger.exception("beat heartbeat: could not write")
        return min(super().tick(*args, **kwargs), self.follower_sleep)

    def _do_sync(self) -> None:
        # Also called between ticks (Service.start, after its sleep).
        with self._database_work():
            super()._do_sync()

    def close(self) -> None:
        # Stopping already: a second signal here only notes the request again.
        self._stop_requested = True
        self._busy += 1
        try:
            if self.leading:
                try:
                    release_beat_lock(self.holder)
                except Exception:
                    logger.exception("beat lock: could not release")
            super().close()
        finally:
            self._busy -= 1
