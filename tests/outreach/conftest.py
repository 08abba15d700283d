"""Fixtures the outreach tests share: the execution engine's (test_execution.py,
test_failure_codes.py), a fake Twilio the settings point at, the /v2 facade's
(test_v2_*.py), and the approval queue's reviewer (test_admin_queue.py,
test_bulk_decision_jobs.py; a module may define its own `reviewer`)."""

from __future__ import annotations

import pytest
from django.test import Client

from outreach import executors
from outreach.executors import ExecutionResult, pooled_http
from outreach.models import Action
from tests.admin_helpers import grant, logged_in
from tests.factories import make_action_row
from tests.fakes.twilio import FakeTwilio
from tests.outreach import SMS


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


@pytest.fixture
def act(workspace, email_identity, owner):
    """Write an action row directly, in the workspace with its email identity, owned by
    `owner` unless told otherwise."""

    def make(**fields) -> Action:
        fields.setdefault("owner", owner)
        return make_action_row(workspace, email_identity, **fields)

    return make


@pytest.fixture
def twilio(settings):
    """A fake Twilio on loopback, with the settings pointing at it."""
    with FakeTwilio() as fake:
        settings.TWILIO_BASE_URL = fake.url
        settings.TWILIO_ACCOUNT_SID = fake.account_sid
        settings.TWILIO_AUTH_TOKEN = fake.auth_token
        settings.TWILIO_STATUS_CALLBACK_URL = ""
        settings.PROVIDER_TIMEOUT_SECONDS = 5
        yield fake


@pytest.fixture
def reviewer(owner):
    """A staff member of the workspace with the approve permission (not a superuser)."""
    grant(owner, "approve_action")
    return owner


@pytest.fixture
def reviewer_client(reviewer) -> Client:
    return logged_in(reviewer)
