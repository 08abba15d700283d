"""Batches in flight in one worker process.

A batch spends most of its time waiting on providers (sends) and the rest on
the database (start, prepare, record, finish). With one batch at a time, a
prefork process's send threads sit idle while it starts and finishes. So the
`outreach.execute_batch` task starts its batch on the task's thread, hands the
sends and the finish to a runner thread, and returns: the process takes its
next batch while the last one's provider calls are out. At most
WORKER_BATCHES_IN_FLIGHT batches are in flight per process (default 2; 1 runs
each batch whole on the task's thread); the next task waits for a slot before
it starts anything, so a process never holds more claimed work than that.

The broker message is acknowledged when the task returns, after the start
committed: from then on the batch's attempts are recorded, and a process that
dies leaves them to the reclaimer (lost, requeued with the same idempotency
key), exactly as a process killed mid-send always has. A warm shutdown waits
for the batches in flight (worker_process_shutdown).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from celery import signals
from django.conf import settings
from django.db import close_old_connections, connections

from outreach.execution.batch import (
    Item,
    actions_execute_batch,
    batch_finish,
    batch_send,
    batch_start,
    lease_token_or_none,
)
from outreach.execution.claims import worker_name
from outreach.executors.pooled_http import close_pools

logger = logging.getLogger("outreach.execution")

_lock = threading.Lock()
_state: dict = {"pid": None, "slots": None, "runner": None, "depth": 0}


def _process_state() -> dict:
    with _lock:
        if _state["pid"] != os.getpid():
            depth = settings.WORKER_BATCHES_IN_FLIGHT
            _state.update(
                depth=depth,
                pid=os.getpid(),
                slots=threading.BoundedSemaphore(depth),
                runner=ThreadPoolExecutor(max_workers=depth, thread_name_prefix="batch"),
            )
        return _state


def batch_run(*, lease_token: str, action_ids: list[int]) -> int:
    """What the task does: the batch whole when one batch at a time is allowed,
    else its start here and the rest on a runner thread. Returns the number of
    actions started."""
    if settings.WORKER_BATCHES_IN_FLIGHT <= 1:
        return len(actions_execute_batch(lease_token=lease_token, action_ids=action_ids))
    token = lease_token_or_none(lease_token)
    if token is None:
        return 0
    state = _process_state()
    state["slots"].acquire()  # wait until fewer batches are in flight here
    try:
        items, _ = batch_start(token, list(action_ids), worker_name())
        if not items:
            state["slots"].release()
            return 0
        state["runner"].submit(_send_and_finish, state, token, items)
    except BaseException:
        state["slots"].release()
        raise
    return len(items)


def _send_and_finish(state: dict, token: str, items: list[Item]) -> None:
    close_old_connections()  # this thread's connection, if the database went away
    try:
        batch_send(items)
        batch_finish(token, items)
    except Exception:
        # Its attempts stay running under the lease: the reclaimer requeues them.
        logger.exception("a batch failed after its start (lease %s)", token)
    finally:
        state["slots"].release()
        close_old_connections()


def runner_stop() -> None:
    """Wait for the batches in flight, then stop the runner threads, each
    closing its database connection (the next batch starts new ones)."""
    with _lock:
        runner, mine, depth = _state["runner"], _state["pid"] == os.getpid(), _state["depth"]
        _state.update(pid=None, slots=None, runner=None, depth=0)
    if runner is None or not mine:
        return
    barrier = threading.Barrier(depth)

    def close_connection() -> None:
        barrier.wait(timeout=30)  # one per thread: each holds here until all arrived
        connections.close_all()

    for _ in range(depth):
        runner.submit(close_connection)
    runner.shutdown(wait=True)


@signals.worker_process_shutdown.connect(weak=False)
def _drain(**_kwargs) -> None:
    """A warm shutdown lets the batches in flight finish, then closes the
    process's pooled HTTP clients."""
    runner_stop()
    close_pools()
