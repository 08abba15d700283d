"""A no-op executor for bench/dispatch.py, loaded into the Celery worker.

    PYTHONPATH=bench celery -A config worker --concurrency=2 -I noop_executor

Celery imports `-I/--include` modules in the worker's main process after the
Django fixup has run `django.setup()` and before the prefork pool forks its
children, so the replacement below is inherited by every pool process; the
`worker_process_init` handler installs it again in each child anyway (a pool
that spawns instead of forking, or an import before Django was ready).

It overwrites `outreach.executors.REGISTRY[...]` directly for the benchmark's
action types: `@register` refuses a type that already has an executor. The
no-op sends nothing and returns `ExecutionResult("noop-<action id>")`, so the
benchmark can check that every completed action went through it (and not
through the real email executor). Nothing else in the engine is changed: the
claim, the lease, the attempt row, the transitions and the commits all run.

What-if knob, off unless set: BENCH_DB_REUSE_MAX=N makes the worker behave as
if `CELERY_DB_REUSE_MAX = N` were in config/settings.py instead of its 100
(Celery's Django fixup closes the database connection every N tasks).
"""

from __future__ import annotations

import os

from celery import signals

BENCH_TYPES = ("send_email",)


class NoopExecutor:
    types = BENCH_TYPES

    def execute(self, context):
        from outreach.executors import ExecutionResult

        return ExecutionResult(f"noop-{context.action.pk}")


def install(**_kwargs) -> None:
    """Point the benchmark's action types at the no-op. Idempotent."""
    from django.apps import apps

    if not apps.ready:  # too early: worker_process_init will do it
        return
    from outreach.executors import REGISTRY

    executor = NoopExecutor()
    for action_type in NoopExecutor.types:
        REGISTRY[action_type] = executor


def apply_db_reuse_max() -> None:
    value = os.environ.get("BENCH_DB_REUSE_MAX")
    if not value:
        return
    from celery import current_app

    for fixup in getattr(current_app, "_fixups", []):
        worker_fixup = getattr(fixup, "worker_fixup", None)
        if worker_fixup is not None:
            worker_fixup.db_reuse_max = int(value)


install()
apply_db_reuse_max()
signals.worker_process_init.connect(install, weak=False)
