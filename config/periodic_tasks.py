"""Every periodic task of the service, declared here and nowhere else.

django-celery-beat's DatabaseScheduler reads its schedule from the database;
`sync_periodic_tasks` makes the database match this table. It runs after every
`migrate` (post_migrate signal) and by `manage.py sync_periodic_tasks`. Rows it
manages are marked by the description prefix, so tasks an operator added by hand
in the admin are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

MANAGED_MARKER = "[declared in config/periodic_tasks.py]"


@dataclass(frozen=True)
class Periodic:
    task: str
    every_seconds: float
    description: str
    expires_seconds: float | None = None


PERIODIC_TASKS: dict[str, Periodic] = {
    # Four ticks a second: a due action waits at most a quarter second for its
    # claim (the on-time goal is 1.5 s p99 from scheduled_time to the send). A
    # tick with nothing due costs three indexed queries. A tick that waited
    # past 2 s behind busy workers is dropped: the next one does its work.
    "outreach.dispatch_due": Periodic(
        task="outreach.dispatch_due",
        every_seconds=0.25,
        description="Reclaim expired leases, claim due actions, hand batches to workers.",
        expires_seconds=2,
    ),
    "automations.dispatch_steps": Periodic(
        task="automations.dispatch_steps",
        every_seconds=1,
        description="Run due steps of automation runs (hooks, topic actions).",
        expires_seconds=10,
    ),
    "webhooks.dispatch_deliveries": Periodic(
        task="webhooks.dispatch_deliveries",
        every_seconds=1,
        description="Reclaim expired webhook leases, send due deliveries, signed.",
        expires_seconds=10,
    ),
    # Approval request emails: a new pending action reaches its reviewers within
    # 30 s, batched to one email per reviewer per APPROVAL_DIGEST_MINUTES.
    "outreach.send_approval_digests": Periodic(
        task="outreach.send_approval_digests",
        every_seconds=30,
        description="Email reviewers the actions newly awaiting their approval.",
        expires_seconds=60,
    ),
    "automations.post_approval_slack": Periodic(
        task="automations.post_approval_slack",
        every_seconds=30,
        description="Post newly pending actions to workspaces' Slack approval webhooks.",
        expires_seconds=60,
    ),
    # A worker killed mid-job leaves it running past its lease (2 min): this
    # hands it to another worker, which resumes at the last committed batch.
    "accounts.resume_background_jobs": Periodic(
        task="accounts.resume_background_jobs",
        every_seconds=30,
        description="Resume background jobs a worker lost (expired lease, lost message).",
        expires_seconds=60,
    ),
    "accounts.purge_background_jobs": Periodic(
        task="accounts.purge_background_jobs",
        every_seconds=24 * 3600,
        description="Delete background jobs (and their error rows) ended more than 30 days ago.",
        expires_seconds=3600,
    ),
    "accounts.purge_revoked_api_keys": Periodic(
        task="accounts.purge_revoked_api_keys",
        every_seconds=24 * 3600,
        description="Delete API keys revoked more than 90 days ago.",
        expires_seconds=3600,
    ),
    "accounts.purge_idempotency_keys": Periodic(
        task="accounts.purge_idempotency_keys",
        every_seconds=3600,
        description="Delete Idempotency-Key records past their 24-hour life.",
        expires_seconds=600,
    ),
}


def sync_periodic_tasks(declared: dict[str, Periodic] | None = None) -> dict[str, list[str]]:
    """Create, update and delete beat rows so they match `declared`. Idempotent."""
    # Imported here: config.logging imports this module while settings load,
    # before the app registry that models need is ready.
    from django_celery_beat.models import IntervalSchedule, PeriodicTask  # noqa: PLC0415

    declared = PERIODIC_TASKS if declared is None else declared
    report: dict[str, list[str]] = {"created": [], "updated": [], "deleted": []}
    with transaction.atomic():
        for name, spec in declared.items():
            seconds = spec.every_seconds
            if seconds >= 1 and float(seconds).is_integer():
                every, period = int(seconds), IntervalSchedule.SECONDS
            else:
                every, period = int(seconds * 1_000_000), IntervalSchedule.MICROSECONDS
            interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
            wanted = {
                "task": spec.task,
                "interval": interval,
                "crontab": None,
                "enabled": True,
                "expire_seconds": spec.expires_seconds,
                "description": f"{MANAGED_MARKER} {spec.description}",
            }
            row = PeriodicTask.objects.filter(name=name).first()
            if row is None:
                PeriodicTask.objects.create(name=name, **wanted)
                report["created"].append(name)
                continue
            changed = [field for field, value in wanted.items() if getattr(row, field) != value]
            if changed:
                for field in changed:
                    setattr(row, field, wanted[field])
                row.save()
                report["updated"].append(name)
        stale = PeriodicTask.objects.filter(description__startswith=MANAGED_MARKER).exclude(
            name__in=list(declared)
        )
        report["deleted"] = sorted(stale.values_list("name", flat=True))
        stale.delete()
    return report
