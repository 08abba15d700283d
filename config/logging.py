"""Logging helpers wired into settings.LOGGING.

Beat fires the dispatch ticks every second; Celery logs each one three times
(beat's "Sending due task", the worker's "received" and "succeeded"). A tick
that found nothing to do is noise that buries the lines an operator needs, so
those records are dropped. A tick that did something still logs its
"succeeded ...: <count>" line, and every other task logs as Celery always does.
"""

from __future__ import annotations

import logging
from functools import cache

from config.periodic_tasks import PERIODIC_TASKS


@cache
def tick_tasks() -> frozenset[str]:
    """The periodic tasks that run more often than once a minute."""
    return frozenset(p.task for p in PERIODIC_TASKS.values() if p.every_seconds < 60)


def _did_nothing(value: object) -> bool:
    return value in (0, "0", None, "None", [], "[]")


class QuietTicks(logging.Filter):
    """Drops Celery's records about a tick task that did nothing.

    Attached to `celery.beat` ("Scheduler: Sending due task %s (%s)", args
    (entry name, task name)), `celery.worker.strategy` ("Task %(name)s[%(id)s]
    received") and `celery.app.trace` ("Task %(name)s[%(id)s] succeeded in
    %(runtime)ss: %(return_value)s"). Failures are never dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "celery.beat":
            return not (isinstance(args, tuple) and len(args) == 2 and args[1] in tick_tasks())
        if not isinstance(args, dict) or args.get("name") not in tick_tasks():
            return True
        if record.levelno > logging.INFO:
            return True
        if record.name == "celery.worker.strategy":
            return False  # "received": the "succeeded" line says whether it mattered
        if "return_value" in args:
            return not _did_nothing(args["return_value"])
        return True
