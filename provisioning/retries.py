"""How a job step ends when it does not succeed: another attempt later, or a failure.

Shared by the one-job path (`steps`) and the batch path (`batches`). A step gives up on
time, not on a count (PROVISIONING_GIVE_UP_AFTER after its first failure).
"""

import logging
from datetime import timedelta

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.utils import timezone

from accounts.models import Mailbox

from .exceptions import PermanentError, TransientError
from .models import PASSWORD_STEP, ProvisioningJob, Step

logger = logging.getLogger("provisioning.steps")
# A job never sends a password (nor the email after it) to these mailboxes.
STOPPED = {
    Mailbox.Status.DISABLED: "Adresse désactivée entre-temps : aucun mot de passe envoyé.",
    Mailbox.Status.DELETED: "Adresse supprimée entre-temps : aucun mot de passe envoyé.",
}


def attempt(job: ProvisioningJob, step: Step, work):
    """(True, result) when `work` succeeds; (False, None) once its failure is on the job.

    A TransientError with attempts left is re-raised with its countdown, for the task.
    """
    try:
        return True, work()
    except TransientError as exc:
        if retry_or_fail(job, step, exc):
            raise
    except PermanentError as exc:
        fail(job, step, exc.message)
    return False, None


def retry_or_fail(job: ProvisioningJob, step: Step, exc: TransientError) -> bool:
    """True when another attempt is scheduled (its delay set on `exc`); False on giving up.

    A step gives up on time, not on a count: a mail database down for a minute or a burst
    of 429s costs attempts, not the member's password. PROVISIONING_GIVE_UP_AFTER after
    its first failure, the step fails for good.
    """
    attempts = getattr(job, step.attempts)
    failing_for = timezone.now() - (job.retrying_since or timezone.now())
    if failing_for.total_seconds() >= settings.PROVISIONING_GIVE_UP_AFTER:
        fail(
            job, step,
            f"Abandon après {attempts} tentatives en {duration(failing_for)} : {exc.message}",
        )  # fmt: skip
        return False
    # Celery's own backoff formula; the task's retry message is scheduled for this time.
    delay = get_exponential_backoff_interval(
        settings.PROVISIONING_RETRY_BACKOFF,
        attempts - 1,
        settings.PROVISIONING_RETRY_BACKOFF_MAX,
        full_jitter=False,
    )
    next_at = timezone.now() + timedelta(seconds=delay)
    ProvisioningJob.objects.release(job, step, error=exc.message, next_attempt_at=next_at)
    exc.countdown = delay
    logger.warning(
        "job %s (%s): attempt %s failed, retry in %ss", job.pk, step.name, attempts, delay
    )
    return True


def duration(elapsed: timedelta) -> str:
    """`26 h`, `45 min`, `30 s`: how long a step kept trying, in the administrator's words."""
    seconds = int(elapsed.total_seconds())
    if seconds >= 7200:
        return f"{seconds // 3600} h"
    if seconds >= 120:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def fail(job: ProvisioningJob, step: Step, message: str) -> None:
    fields = {"finished_at": timezone.now()} if step is PASSWORD_STEP else {}
    ProvisioningJob.objects.fail(job, step, error=message, **fields)
    logger.error("job %s (%s) failed: %s", job.pk, step.name, message)
