from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "outreach"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Suppression, deleted contacts and ESP tracking events stop cadence enrollments.
        from outreach import receivers  # noqa: F401
