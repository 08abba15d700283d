from celery import shared_task

from accounts import services
from accounts.idempotency import purge_expired


@shared_task(name="accounts.purge_revoked_api_keys")
def purge_revoked_api_keys() -> int:
    return services.api_keys_purge_revoked()


@shared_task(name="accounts.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    return purge_expired()


@shared_task(name="accounts.run_background_job")
def run_background_job(job_id: int) -> None:
    """Thin and idempotent: a second delivery finds the job claimed or ended."""
    services.background_job_run(job_id=job_id)


@shared_task(name="accounts.resume_background_jobs")
def resume_background_jobs() -> list[int]:
    return services.background_jobs_resume_stale()


@shared_task(name="accounts.purge_background_jobs")
def purge_background_jobs() -> int:
    return services.background_jobs_purge_ended()
