"""Celery tasks: thin doorbells that take a request id and call a service."""

from celery import shared_task

from provisioning.tasks import RETRIED

from . import selfservice, services


@shared_task(name="memberrequests.send_confirmation", **RETRIED)
def send_confirmation(request_id: int) -> None:
    services.member_request_send_confirmation(request_id=request_id)


@shared_task(name="memberrequests.notify_administrators", **RETRIED)
def notify_administrators(request_id: int) -> None:
    services.member_request_notify_administrators(request_id=request_id)


@shared_task(name="memberrequests.send_refusal", **RETRIED)
def send_refusal(request_id: int) -> None:
    services.member_request_send_refusal(request_id=request_id)


@shared_task(name="memberrequests.self_service_digest", **RETRIED)
def self_service_digest() -> None:
    """Daily (beat): the forgotten passwords sent without approval, to the administrators."""
    selfservice.self_service_digest_send()
