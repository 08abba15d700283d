from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the outbox writers to outreach's and contacts' signals.
        from webhooks import receivers  # noqa: F401, PLC0415
