from celery import shared_task


@shared_task(name="automations.dispatch_steps", ignore_result=True)
def dispatch_steps() -> int:
    """Every second (config/periodic_tasks.py): run due automation steps."""
    # Deferred like outreach's tasks: Celery imports this module when it discovers
    # tasks, and the engine (with the models) loads when a task first runs.
    from automations.engine import steps_dispatch  # noqa: PLC0415

    return steps_dispatch()
