from celery import shared_task

from accounts import services


@shared_task(name="accounts.purge_revoked_api_keys")
def purge_revoked_api_keys() -> int:
    return services.api_keys_purge_revoked()
