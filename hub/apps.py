from django.apps import AppConfig
from django.db.models.signals import post_migrate

from config.periodic_tasks import sync_periodic_tasks


def _sync_periodic_tasks(sender, **kwargs) -> None:
    sync_periodic_tasks()


class HubConfig(AppConfig):
    name = "hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # After `migrate`, beat's schedule matches config/periodic_tasks.py.
        post_migrate.connect(_sync_periodic_tasks, sender=self)
        # Celery's worker signals start the heartbeat threads; the module needs
        # the models, which the app registry has only now.
        from hub import heartbeats  # noqa: F401, PLC0415
