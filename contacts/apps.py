from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: the job kind's module loads models, which need the app registry.
        from contacts.imports import register  # noqa: PLC0415

        register()  # the CSV import, run by accounts' background jobs
