from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_periodic_tasks(sender, **kwargs) -> None:
    from config.periodic_tasks import sync_periodic_tasks

    sync_periodic_tasks()


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import schema  # noqa: F401  registers the OpenAPI bearer scheme

        # After `migrate`, beat's schedule matches config/periodic_tasks.py.
        post_migrate.connect(_sync_periodic_tasks, sender=self)
