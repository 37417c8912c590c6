"""Celery tasks: thin doorbells that take a request id and call a service."""

from celery import shared_task
from django.conf import settings

from provisioning.exceptions import TransientError

from . import services

_RETRY = {
    "ignore_result": True,
    "autoretry_for": (TransientError,),
    "retry_backoff": settings.PROVISIONING_RETRY_BACKOFF,
    "retry_backoff_max": settings.PROVISIONING_RETRY_BACKOFF_MAX,
    "retry_jitter": False,
    "max_retries": settings.PROVISIONING_MAX_ATTEMPTS,
}


@shared_task(name="memberrequests.send_confirmation", **_RETRY)
def send_confirmation(request_id: int) -> None:
    services.member_request_send_confirmation(request_id=request_id)


@shared_task(name="memberrequests.notify_administrators", **_RETRY)
def notify_administrators(request_id: int) -> None:
    services.member_request_notify_administrators(request_id=request_id)


@shared_task(name="memberrequests.send_refusal", **_RETRY)
def send_refusal(request_id: int) -> None:
    services.member_request_send_refusal(request_id=request_id)
