"""A beat scheduler that only sends periodic tasks while it holds the leader lock.

Two `celery beat` processes (a deploy overlap, a mistake) would otherwise send
every periodic task twice. The lock is a row (hub.models.SchedulerLock) taken
with a conditional UPDATE whose row count is checked, on PostgreSQL and SQLite
alike: the holder renews it every tick; another process may take it only once
it has expired (its holder died). A process without the lock sends nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta

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
    """django-celery-beat's DatabaseScheduler, gated by the leader lock."""

    follower_sleep = 1.0

    def __init__(self, *args, **kwargs) -> None:
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
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

    def close(self) -> None:
        if self.leading:
            try:
                release_beat_lock(self.holder)
            except Exception:
                logger.exception("beat lock: could not release")
        super().close()
