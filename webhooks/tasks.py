from celery import shared_task


@shared_task(name="webhooks.dispatch_deliveries", ignore_result=True)
def dispatch_deliveries() -> int:
    """Every second (config/periodic_tasks.py): send due webhook deliveries."""
    # Deferred like the other apps' tasks: Celery imports this module when it
    # discovers tasks, before the models may load.
    from webhooks.delivery import deliveries_dispatch  # noqa: PLC0415

    return deliveries_dispatch()
