"""Counts the SQL statements each Celery pool process sends, for bench/dispatch.py.

    PYTHONPATH=bench BENCH_PROBE_DIR=/tmp/x celery -A config worker -I dispatch_parts.worker_probe

The engine's statements per action are only observable inside the worker, and
pg_stat_statements needs a server restart (shared_preload_libraries), so each
pool process counts them itself: a Django `execute_wrapper` (one call per
statement, nothing else) on every database connection the process opens, and
a daemon thread that writes the running count to `$BENCH_PROBE_DIR/<pid>`
every 0.2 s when it changed (written to a temporary name, then renamed, so a
reader never sees half a number). The bench sums the files before and after a
phase. Without BENCH_PROBE_DIR the module does nothing.

Celery imports `-I` modules in the worker's main process before the pool
forks; the counting starts in each child on `worker_process_init`.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from pathlib import Path

from celery import signals

WRITE_EVERY = 0.2

_counter = itertools.count(1)  # next() is atomic under the GIL: send threads may count too
_count = 0


def _count_statement(execute, sql, params, many, context):
    global _count
    _count = next(_counter)
    return execute(sql, params, many, context)


def _install(connection) -> None:
    if _count_statement not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_statement)


def _on_connection_created(sender, connection, **_kwargs) -> None:
    _install(connection)


def _writer(path: Path) -> None:
    written = -1
    tmp = path.with_name(f".{path.name}")
    while True:
        value = _count
        if value != written:
            tmp.write_text(str(value))
            os.replace(tmp, path)
            written = value
        time.sleep(WRITE_EVERY)


def start(**_kwargs) -> None:
    folder = os.environ.get("BENCH_PROBE_DIR")
    if not folder:
        return
    from django.db import connections
    from django.db.backends.signals import connection_created

    connection_created.connect(_on_connection_created, weak=False)
    for connection in connections.all(initialized_only=True):
        _install(connection)
    _install(connections["default"])
    path = Path(folder) / str(os.getpid())
    threading.Thread(target=_writer, args=(path,), daemon=True, name="bench-probe").start()


signals.worker_process_init.connect(start, weak=False)
