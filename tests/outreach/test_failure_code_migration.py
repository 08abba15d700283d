"""outreach 0008: actions that failed before failure_code existed get the code
their error text obviously gives, else `other`; the rest stay blank."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("outreach", "0007_facade_indexes")]
AFTER = [("outreach", "0008_action_failure_code")]
OLD_FAILURES = {
    "suppressed: unsubscribed: asked": "suppressed",
    "Recipient ct_1 is suppressed (bounced).": "suppressed",
    "Gave up after 6 attempts: timeout": "gave_up",
    "Gave up after 6 attempts (lost).": "gave_up",
    "Recipient refused by the mail server: a@example.com: 550 No such user": "invalid_recipient",
    "Twilio is not configured (set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN).": "not_configured",
    "Twilio error 21610: blocked (HTTP 400)": "other",
    "": "other",
}


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def test_it_derives_codes_for_failed_actions_and_leaves_the_others_blank():
    executor = migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        workspace = apps.get_model("accounts", "Workspace").objects.create(name="Legacy")
        identity = apps.get_model("outreach", "Identity").objects.create(
            workspace=workspace, channel="email", address="sales@example.com"
        )
        actions = apps.get_model("outreach", "Action").objects

        def make(status: str, error: str):
            return actions.create(
                workspace=workspace,
                identity=identity,
                type="send_email",
                status=status,
                scheduled_time="2026-01-01T00:00:00Z",
                error_message=error,
            ).pk

        failed = {make("failed", text): code for text, code in OLD_FAILURES.items()}
        # A retrying action keeps its last error but has not failed.
        retrying = make("scheduled", "Gave up after nothing: still retrying")

        migrate(AFTER)
        from outreach.models import Action

        codes = dict(Action.objects.values_list("pk", "failure_code"))
        assert {pk: codes[pk] for pk in failed} == failed
        assert codes[retrying] == ""

        migrate(BEFORE)  # reversible: the column goes
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_every_code_it_derives_is_a_failure_code():
    from outreach.models import FailureCode

    migration = importlib.import_module("outreach.migrations.0008_action_failure_code")
    assert {migration.derive_failure_code(text) for text in OLD_FAILURES} <= set(FailureCode.values)
