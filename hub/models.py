from django.db import models


class SchedulerLock(models.Model):
    """Leader election for celery beat (hub.beat): only the holder of an unexpired
    lock sends periodic tasks, so a second beat process does nothing."""

    name = models.CharField(max_length=64, primary_key=True)
    holder = models.CharField(max_length=200)
    expires_at = models.DateTimeField()

    class Meta:
        # The table outreach created before the lock moved here (migrations move
        # the model in Django's state only; the table and its rows stay).
        db_table = "outreach_schedulerlock"

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder}"


class Heartbeat(models.Model):
    """When beat (`beat`) and a worker (`worker`) last checked in (hub.heartbeats):
    one row per role, whichever process of that role wrote last. /readyz and the
    admin's banner read them."""

    role = models.CharField(max_length=16, primary_key=True)
    seen_at = models.DateTimeField()
    process = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.role} seen at {self.seen_at:%Y-%m-%d %H:%M:%S} ({self.process})"
