"""automations 0003: apiHeaders stored before it was a secret are encrypted in place
(and decrypted again when the migration is reversed)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from automations.models import ActionDefinition

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("automations", "0002_hook_runs")]
AFTER = [("automations", "0003_secret_api_headers_and_run_approval")]
PLAIN = '{"X-Api-Key": "legacy-Plaint3xt-key"}'


def migrate(targets: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def stored(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_headers FROM automations_actiondefinition WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_encrypts_the_headers_already_stored_and_decrypts_them_backwards():
    executor = migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        workspace = apps.get_model("accounts", "Workspace").objects.create(name="Legacy")
        definitions = apps.get_model("automations", "ActionDefinition").objects
        legacy = definitions.create(
            workspace=workspace, name="Old call", action_type="ApiCall", api_headers=PLAIN
        )
        empty = definitions.create(workspace=workspace, name="No headers", action_type="ApiCall")
        assert stored(legacy.pk) == PLAIN

        migrate(AFTER)
        assert "legacy-Plaint3xt-key" not in stored(legacy.pk)
        assert ActionDefinition.objects.get(pk=legacy.pk).api_headers == PLAIN
        assert stored(empty.pk) == ""

        migrate(BEFORE)
        assert stored(legacy.pk) == PLAIN
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
