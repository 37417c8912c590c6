"""Celery tasks: thin doorbells that take a job id and call a service.

They never receive a password (invariant 1); `acks_late` is safe because every step
starts with a compare-and-set claim, so a redelivered message is a no-op.
"""

from celery import shared_task
from django.conf import settings

from . import deliveries, dnswatch, services
from .exceptions import TransientError

_RETRY = {
    "ignore_result": True,
    "acks_late": True,
    "autoretry_for": (TransientError,),
    "retry_backoff": settings.PROVISIONING_RETRY_BACKOFF,
    "retry_backoff_max": settings.PROVISIONING_RETRY_BACKOFF_MAX,
    "retry_jitter": False,
    "max_retries": settings.PROVISIONING_MAX_ATTEMPTS,
}


# The job steps keep their own attempts and due time in the database; the retry message
# is scheduled for that time (a message rung by the sweep counts its retries from zero).
_STEP = {"bind": True, "ignore_result": True, "acks_late": True, "max_retries": None}


@shared_task(name="provisioning.deliver_password", **_STEP)
def deliver_password(self, job_id: int) -> None:
    try:
        services.job_deliver_password(job_id=job_id)
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=services.job_retry_countdown(job_id=job_id)) from exc


@shared_task(name="provisioning.send_job_email", **_STEP)
def send_job_email(self, job_id: int) -> None:
    try:
        services.job_send_email(job_id=job_id)
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=services.job_retry_countdown(job_id=job_id)) from exc


@shared_task(name="provisioning.sweep", ignore_result=True)
def sweep() -> None:
    services.jobs_sweep()


@shared_task(name="provisioning.redact_sms", **_RETRY)
def redact_sms(job_id: int) -> None:
    deliveries.job_redact_sms(job_id=job_id)


@shared_task(name="provisioning.alert_sms_failure", **_RETRY)
def alert_sms_failure(job_id: int) -> None:
    deliveries.job_alert_sms_failure(job_id=job_id)


@shared_task(
    name="provisioning.watch_dns",
    ignore_result=True,
    autoretry_for=(TransientError,),  # the alert email could not leave: the states are unchanged
    retry_backoff=settings.PROVISIONING_RETRY_BACKOFF,
    retry_backoff_max=settings.PROVISIONING_RETRY_BACKOFF_MAX,
    max_retries=3,
)
def watch_dns() -> None:
    dnswatch.domains_watch_dns()
