from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Imported here, not at the top: these modules import models, which Django
        # loads only after the app registry is populated. The engine runs the step
        # executors and pipeline stages through its registries, not by importing
        # the modules that define them (they import the engine).
        from automations import (  # noqa: PLC0415
            engine,
            receivers,  # noqa: F401  (contact and inbound-email hooks)
            step_executors,
        )
        from automations.services import conversations, inbound  # noqa: PLC0415

        engine.step_executors_register(step_executors.STEP_EXECUTORS)
        engine.stage_handlers_register(inbound.STAGE_HANDLERS | conversations.STAGE_HANDLERS)
