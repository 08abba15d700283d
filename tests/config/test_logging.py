"""The once-a-second ticks log only when they did something; everything else
logs as Celery always does."""

from __future__ import annotations

import logging

import pytest

from config.logging import QuietTicks


def record(name: str, msg: str, args, level: int = logging.INFO) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    rec.args = args  # a dict of args is what Celery passes (LogRecord unwraps 1-tuples)
    return rec


SUCCEEDED = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"


@pytest.mark.parametrize(
    "rec",
    [
        record(
            "celery.beat",
            "Scheduler: Sending due task %s (%s)",
            ("dispatch", "outreach.dispatch_due"),
        ),
        record(
            "celery.worker.strategy",
            "Task %(name)s[%(id)s] received",
            {"name": "automations.dispatch_steps", "id": "x"},
        ),
        record(
            "celery.app.trace",
            SUCCEEDED,
            {"name": "outreach.dispatch_due", "id": "x", "runtime": 0.01, "return_value": "0"},
        ),
    ],
)
def test_it_drops_a_tick_that_did_nothing(rec):
    assert QuietTicks().filter(rec) is False


@pytest.mark.parametrize(
    "rec",
    [
        record(
            "celery.app.trace",
            SUCCEEDED,
            {"name": "outreach.dispatch_due", "id": "x", "runtime": 0.01, "return_value": "3"},
        ),
        record(
            "celery.app.trace",
            "Task %(name)s[%(id)s] raised",
            {"name": "outreach.dispatch_due", "id": "x"},
            logging.ERROR,
        ),
        record(
            "celery.worker.strategy",
            "Task %(name)s[%(id)s] received",
            {"name": "outreach.execute_action", "id": "x"},
        ),
        record(
            "celery.app.trace",
            SUCCEEDED,
            {
                "name": "outreach.execute_action",
                "id": "x",
                "runtime": 0.01,
                "return_value": "'completed'",
            },
        ),
        record(
            "celery.beat",
            "Scheduler: Sending due task %s (%s)",
            ("purge", "accounts.purge_idempotency_keys"),
        ),
    ],
)
def test_it_keeps_work_failures_and_slow_tasks(rec):
    assert QuietTicks().filter(rec) is True


def test_it_is_attached_to_celerys_loggers(settings):
    assert settings.LOG_TICKS is False
    for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace"):
        assert settings.LOGGING["loggers"][name]["filters"] == ["quiet_ticks"]
