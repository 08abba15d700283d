from celery import shared_task

from accounts import services
from accounts.idempotency import purge_expired


@shared_task(name="accounts.purge_revoked_api_keys")
def purge_revoked_api_keys() -> int:
    return services.api_keys_purge_revoked()


@shared_task(name="accounts.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return purge_expired()
