from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "outreach"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here: models and the API serializers need the app registry ready.
        # receivers: suppression, deleted contacts and ESP tracking events stop cadence
        # enrollments.
        from contacts.profile import contact_actions_reader_set  # noqa: PLC0415
        from outreach import bulk_jobs, receivers  # noqa: F401, PLC0415
        from outreach.api.contacts import contact_actions_of  # noqa: PLC0415

        bulk_jobs.register()  # bulk approve/reject of many actions, as a background job
        # A contact's profile (GET /v1/contacts/{id}) shows its actions.
        contact_actions_reader_set(contact_actions_of)
