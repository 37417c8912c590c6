"""Celery tasks: thin doorbells that take a job id and call a worker step.

They never receive a password (invariant 1); `acks_late` is safe because every step
starts with a compare-and-set claim, so a redelivered message is a no-op.
"""

import functools
import logging

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.conf import settings
from django.db import transaction
from kombu.exceptions import OperationalError

from audit.services import Actor

from . import mailsync, steps
from .dnshealth import watch as dns_watch
from .exceptions import TransientError
from .models import PASSWORD_STEP, Step

logger = logging.getLogger(__name__)

# Tasks that retry with Celery's own backoff (memberrequests' tasks use them too).
RETRIED = {
    "ignore_result": True,
    "autoretry_for": (TransientError,),
    "retry_backoff": settings.PROVISIONING_RETRY_BACKOFF,
    "retry_backoff_max": settings.PROVISIONING_RETRY_BACKOFF_MAX,
    "retry_jitter": False,
    "max_retries": settings.PROVISIONING_MAX_ATTEMPTS,
}


class SweptTask(DjangoTask):
    """A task whose work a sweep finds again in the database (a job step, an alias or quota
    to copy to the mail table, an SMS text to erase): a ring lost to a broker out of reach
    costs a delay, never the work (invariant 4)."""

    def ring(self, *args, countdown: float | None = None) -> None:
        """The sweep rings again after PROVISIONING_QUEUED_GRACE. The caller's transaction
        is committed already; an error here would only turn a recorded act into an error
        page."""
        try:
            self.apply_async(args, countdown=countdown)
        except OperationalError as exc:  # refused, reset, timed out: after Celery's retries
            logger.warning("broker unreachable, %s%s waits for the sweep: %s", self.name, args, exc)

    def ring_on_commit(self, *args, countdown: float | None = None) -> None:
        transaction.on_commit(functools.partial(self.ring, *args, countdown=countdown))


# The job steps keep their own attempts and due time in the database; the retry message
# is scheduled for the countdown the step computed (a message rung by the sweep counts its
# retries from zero).
_STEP = {
    "base": SweptTask,
    "bind": True,
    "ignore_result": True,
    "acks_late": True,
    "max_retries": None,
}


@shared_task(name="provisioning.deliver_password", **_STEP)
def deliver_password(self, job_id: int) -> None:
    try:
        steps.job_deliver_password(job_id=job_id)
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=exc.countdown or 0) from exc


@shared_task(name="provisioning.send_job_email", **_STEP)
def send_job_email(self, job_id: int) -> None:
    try:
        steps.job_send_email(job_id=job_id)
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=exc.countdown or 0) from exc


def enqueue_step(step: Step, job_id: int, *, countdown: float | None = None) -> None:
    """Ring the doorbell once the transaction commits; the job itself is already recorded.
    `countdown`: a retry's, for a job of a batch (whose own doorbell is gone)."""
    task = deliver_password if step is PASSWORD_STEP else send_job_email
    task.ring_on_commit(job_id, countdown=countdown)


@shared_task(name="provisioning.sweep", ignore_result=True)
def sweep() -> None:
    steps.jobs_sweep()
    mailsync.mail_table_sweep()


# Aliases and quotas: the record is in the app database, these copy it to the mail table.
@shared_task(name="provisioning.sync_alias", base=SweptTask, acks_late=True, **RETRIED)
def sync_alias(alias_id: int) -> None:
    mailsync.alias_sync(alias_id=alias_id)


@shared_task(name="provisioning.sync_mailbox_quota", base=SweptTask, acks_late=True, **RETRIED)
def sync_mailbox_quota(mailbox_id: int) -> None:
    mailsync.mailbox_quota_sync(mailbox_id=mailbox_id)


@shared_task(name="provisioning.redact_sms", base=SweptTask, acks_late=True, **RETRIED)
def redact_sms(job_id: int) -> None:
    steps.job_redact_sms(job_id=job_id)


@shared_task(name="provisioning.alert_sms_failure", acks_late=True, **RETRIED)
def alert_sms_failure(job_id: int) -> None:
    steps.job_alert_sms_failure(job_id=job_id)


@shared_task(
    name="provisioning.watch_dns",
    **{**RETRIED, "max_retries": 3},  # the alert email could not leave: the states are unchanged
)
def watch_dns() -> None:
    dns_watch.domains_watch_dns()


@shared_task(name="provisioning.purge_data", ignore_result=True)
def purge_data() -> None:
    """Daily (beat): erase what is past its retention delay, as `purgedata` does."""
    from . import retention  # here: it reaches memberrequests, whose tasks import this module

    retention.data_purge(actor=Actor.system("purge quotidienne"))
