"""Beat and the workers check in; /readyz and the admin's banner read when they last did.

Beat writes on its tick (hub.beat.SingleBeatScheduler, the leader only: a
follower sends nothing, so it is not what keeps the schedule going). Each worker
pool process runs a daemon thread that writes every HEARTBEAT_SECONDS (started
on Celery's worker_process_init, or worker_ready for a pool without child
processes: hub.apps), so a stopped or wedged worker stops checking in. One row
per role (hub.models.Heartbeat): an UPDATE every few seconds per process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from prometheus_client import multiprocess

from hub.models import Heartbeat

logger = logging.getLogger("hub.heartbeats")

BEAT = "beat"
WORKER = "worker"
ROLES = (BEAT, WORKER)
# At most one write per role and process this often.
HEARTBEAT_SECONDS = 5.0

_last_written: dict[str, float] = {}  # role → time.monotonic() of this process's last write


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_record(role: str, *, force: bool = False) -> bool:
    """Record that `role` is alive now (throttled per process). True when written."""
    now = time.monotonic()
    if not force and now - _last_written.get(role, -HEARTBEAT_SECONDS) < HEARTBEAT_SECONDS:
        return False
    _last_written[role] = now
    values = {"seen_at": timezone.now(), "process": process_name()[:200]}
    if not Heartbeat.objects.filter(role=role).update(**values):  # one UPDATE, but the first time
        try:
            with transaction.atomic():
                Heartbeat.objects.create(role=role, **values)
        except IntegrityError:  # another process created it just now: it is fresh
            pass
    return True


def heartbeats_seen() -> dict[str, datetime]:
    """When each role last checked in (one query); a role never seen is absent."""
    return dict(Heartbeat.objects.values_list("role", "seen_at"))


def missing_roles(seen: dict[str, datetime], now: datetime | None = None) -> list[str]:
    """The roles (beat, worker) that have not checked in within
    READINESS_MAX_AGE_SECONDS."""
    limit = (now or timezone.now()) - timedelta(seconds=settings.READINESS_MAX_AGE_SECONDS)
    return [role for role in ROLES if seen.get(role) is None or seen[role] < limit]


def _worker_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            close_old_connections()
            heartbeat_record(WORKER, force=True)
        except Exception:
            logger.warning("worker heartbeat: could not write", exc_info=True)
        stop.wait(HEARTBEAT_SECONDS)
    connection.close()


_worker_thread: dict[str, tuple[threading.Thread, threading.Event]] = {}


def worker_heartbeat_start() -> None:
    """Start this process's heartbeat thread (once per process)."""
    pid = str(os.getpid())
    if pid in _worker_thread:
        return
    stop = threading.Event()
    thread = threading.Thread(target=_worker_loop, args=(stop,), name="hub-heartbeat", daemon=True)
    _worker_thread.clear()  # a fork's copy of the parent's entry is not running here
    _worker_thread[pid] = (thread, stop)
    thread.start()


def worker_heartbeat_stop() -> None:
    entry = _worker_thread.pop(str(os.getpid()), None)
    if entry is not None:
        entry[1].set()


# --- Celery's worker signals (connected when hub.apps imports this module) -------
def _prefork(pool: object) -> bool:
    return type(pool).__module__ == "celery.concurrency.prefork"


@worker_process_init.connect
def _on_pool_process_start(**kwargs) -> None:
    # A prefork pool process: the process that runs tasks checks in.
    worker_heartbeat_start()


@worker_ready.connect
def _on_worker_ready(sender=None, **kwargs) -> None:
    # A pool without child processes (solo, threads): the worker process itself.
    if not _prefork(getattr(sender, "pool", None)):
        worker_heartbeat_start()


@worker_process_shutdown.connect
def _on_pool_process_stop(**kwargs) -> None:
    worker_heartbeat_stop()
    # prometheus_client's multiprocess bookkeeping for a process that ends (its
    # live gauges' files; counters and histograms stay and keep adding up).
    multiprocess.mark_process_dead(os.getpid())
