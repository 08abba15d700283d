from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.periodic_tasks import MANAGED_MARKER, PERIODIC_TASKS, Periodic, sync_periodic_tasks

pytestmark = pytest.mark.django_db


def test_migrate_has_already_synced_the_declared_tasks():
    names = set(
        PeriodicTask.objects.filter(description__startswith=MANAGED_MARKER).values_list(
            "name", flat=True
        )
    )
    assert names == set(PERIODIC_TASKS)


def test_sync_creates_updates_and_deletes_only_managed_rows():
    manual = PeriodicTask.objects.create(
        name="hand made",
        task="accounts.purge_revoked_api_keys",
        interval=IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES),
    )
    declared = {
        "tick": Periodic(
            task="accounts.purge_revoked_api_keys", every_seconds=1, description="Every second."
        )
    }
    report = sync_periodic_tasks(declared)
    assert report["created"] == ["tick"]
    assert report["deleted"] == sorted(PERIODIC_TASKS)

    assert sync_periodic_tasks(declared) == {"created": [], "updated": [], "deleted": []}

    declared["tick"] = Periodic(
        task="accounts.purge_revoked_api_keys", every_seconds=0.5, description="Twice a second."
    )
    assert sync_periodic_tasks(declared)["updated"] == ["tick"]
    tick = PeriodicTask.objects.get(name="tick")
    assert (tick.interval.every, tick.interval.period) == (500_000, IntervalSchedule.MICROSECONDS)
    assert PeriodicTask.objects.filter(pk=manual.pk).exists()


def test_the_command_restores_a_deleted_task():
    PeriodicTask.objects.filter(name__in=list(PERIODIC_TASKS)).delete()
    call_command("sync_periodic_tasks")
    assert set(
        PeriodicTask.objects.filter(name__in=list(PERIODIC_TASKS)).values_list("name", flat=True)
    ) == set(PERIODIC_TASKS)
