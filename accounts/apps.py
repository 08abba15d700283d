from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the scheme's module loads DRF's views, which need settings
        # and the app registry; the import registers the OpenAPI bearer scheme.
        from accounts import schema  # noqa: F401, PLC0415
