from celery import shared_task


@shared_task(name="automations.dispatch_steps", ignore_result=True)
def dispatch_steps() -> int:
    """Every second (config/periodic_tasks.py): run due automation steps."""
    from automations.engine import steps_dispatch

    return steps_dispatch()
