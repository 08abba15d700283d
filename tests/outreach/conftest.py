"""Fixtures the execution engine's tests share (test_execution.py, test_failure_codes.py)."""

from __future__ import annotations

import pytest

from outreach import executors
from outreach.executors import ExecutionResult, pooled_http

PHONE = "+14155551234"
SMS = {"recipient_phone": PHONE, "message": "Your appointment is in 1 hour!"}


class Scripted:
    """A stand-in SMS executor for our own interface: plays back results (or errors,
    or callables of the context) in order, and records each context it got."""

    types = ("send_sms",)

    def __init__(self, *script):
        self.script = list(script)
        self.calls = []

    def execute(self, context):
        self.calls.append(context)
        step = self.script.pop(0) if self.script else ExecutionResult("SM-default")
        if callable(step) and not isinstance(step, Exception):
            step = step(context)
        if isinstance(step, Exception):
            raise step
        return step


@pytest.fixture
def scripted(monkeypatch):
    def install(*script):
        executor = Scripted(*script)
        monkeypatch.setitem(executors.REGISTRY, "send_sms", executor)
        return executor

    return install


@pytest.fixture
def due_sms(make_action, sms_identity):
    def make(**kw):
        return make_action(
            type="send_sms", identity=sms_identity, params=dict(SMS), require_approval=False, **kw
        )

    return make


@pytest.fixture
def fresh_pools():
    """Start and end without pooled clients, so a test sees only its own connections."""
    pooled_http.close_pools()
    yield
    pooled_http.close_pools()
