"""After the SMS left: Twilio's status callbacks, the body's redaction, the failure alert.

Use cases, as in services.py; tasks call the `job_*` ones with a job id.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.translation import gettext_lazy as _

from . import emails, sms
from .exceptions import PermanentError, TransientError
from .models import (
    SMS_DELIVERED,
    SMS_FINAL,
    SMS_NOT_DELIVERED,
    SMS_STATUS_RANK,
    JobState,
    ProvisioningJob,
    Redaction,
    SmsStatusEvent,
)
from .sms.twilio import explain

logger = logging.getLogger(__name__)
KNOWN_STATUSES = frozenset(SMS_STATUS_RANK) - {""}


def _latest_job(field: str) -> Subquery:
    jobs = ProvisioningJob.objects.filter(mailbox=OuterRef("pk")).order_by("-created_at", "-pk")
    return Subquery(jobs.values(field)[:1])


def with_last_job(mailboxes):
    """Mailboxes annotated with their last job's delivery, in one query (constant count)."""
    return mailboxes.annotate(
        last_job_state=_latest_job("state"),
        last_sms_status=_latest_job("sms_status"),
        last_sms_sent_at=_latest_job("sms_sent_at"),
        last_sms_status_at=_latest_job("sms_status_at"),
        last_sms_error_code=_latest_job("sms_error_code"),
        last_job_error=_latest_job("last_error"),
    )


# The questions asked of the mailbox list, on `with_last_job` annotations.
LAST_SMS = {
    "delivered": (_("remis"), Q(last_sms_status__in=SMS_DELIVERED)),
    "not_delivered": (_("non remis"), Q(last_sms_status__in=SMS_NOT_DELIVERED)),
    "unconfirmed": (
        _("envoyé, sans accusé de réception"),
        Q(last_job_state=JobState.DONE)
        & ~Q(last_sms_status__in=[*SMS_NOT_DELIVERED, *SMS_DELIVERED]),
    ),
    "failed": (_("échec de l'envoi"), Q(last_job_state=JobState.FAILED)),
    "in_flight": (
        _("en attente ou en cours"),
        Q(last_job_state__in=[JobState.QUEUED, JobState.RUNNING]),
    ),
}


def sms_status_record(*, message_sid: str, status: str, error_code: int | None) -> bool:
    """Keep one signed callback, and move its job forward; False when it was a replay."""
    try:
        with transaction.atomic():
            SmsStatusEvent.objects.create(
                message_sid=message_sid, status=status, error_code=error_code
            )
    except IntegrityError:
        return False  # the same callback again: already recorded
    _apply(message_sid, status, error_code)
    return True


def sms_events_apply(*, job: ProvisioningJob) -> None:
    """Callbacks that arrived before the job recorded its message id, applied now."""
    events = SmsStatusEvent.objects.filter(message_sid=job.sms_message_id)
    for event in sorted(events, key=lambda e: SMS_STATUS_RANK.get(e.status, -1)):
        _apply(event.message_sid, event.status, event.error_code)


def _apply(message_sid: str, status: str, error_code: int | None) -> None:
    moved = ProvisioningJob.objects.record_sms_status(
        message_sid=message_sid, status=status, error_code=error_code, at=timezone.now()
    )
    if moved is None:
        return
    logger.info("job %s: SMS %s is now %s (%s)", moved, message_sid, status, error_code)
    from . import tasks  # tasks import this module

    job = ProvisioningJob.objects.only("sms_redaction").get(pk=moved)
    if job.sms_redaction == Redaction.PENDING:
        tasks.redact_sms.delay_on_commit(moved)
    if status in SMS_NOT_DELIVERED:
        tasks.alert_sms_failure.delay_on_commit(moved)


def redactions_sweep(*, now) -> int:
    """Ring again for redactions still pending after a grace period (lost message)."""
    grace = now - timedelta(seconds=settings.PROVISIONING_QUEUED_GRACE)
    pending = ProvisioningJob.objects.filter(sms_redaction=Redaction.PENDING, updated_at__lt=grace)
    from . import tasks  # tasks import this module

    count = 0
    for pk in pending.values_list("pk", flat=True)[:500]:
        if pending.filter(pk=pk).update(updated_at=now):
            tasks.redact_sms.delay_on_commit(pk)
            count += 1
    return count


def _day_and_time(moment) -> str:
    return dateformat.format(timezone.localtime(moment), "d/m à H:i") if moment else ""


def delivery_summary(
    *, state: str, sms_status: str, sent_at, status_at, error_code: int | None, last_error: str
) -> tuple[str, str]:
    """(tone, French text) of a job's delivery, read at a glance: ok, waiting or error."""
    if state == JobState.FAILED:
        return "error", f"Échec : {last_error}"
    if state != JobState.DONE:
        label = str(JobState(state).label).capitalize()
        return "waiting", f"{label} — {last_error}" if last_error else label
    if sms_status in SMS_NOT_DELIVERED:
        reason = f"{explain(error_code)} ({error_code})" if error_code else "raison inconnue"
        return "error", f"SMS non remis : {reason}"
    if sms_status in SMS_DELIVERED:
        return "ok", f"SMS remis le {_day_and_time(status_at or sent_at)}"
    return "ok", f"SMS envoyé le {_day_and_time(sent_at)}, accusé de réception attendu"


def job_summary(job: ProvisioningJob) -> tuple[str, str, bool]:
    """(tone, French text, settled) of one job; settled once nothing more will change."""
    tone, text = delivery_summary(
        state=job.state,
        sms_status=job.sms_status,
        sent_at=job.sms_sent_at,
        status_at=job.sms_status_at,
        error_code=job.sms_error_code,
        last_error=job.last_error,
    )
    settled = job.state == JobState.FAILED or (
        job.state == JobState.DONE and job.sms_status in SMS_FINAL
    )
    return tone, text, settled


def sms_failure_reason(job: ProvisioningJob) -> str:
    """`numéro injoignable (30003)`: what the administrator reads about an SMS not delivered."""
    if job.sms_error_code:
        return f"{explain(job.sms_error_code)} ({job.sms_error_code})"
    return "raison non précisée par l'opérateur"


def job_redact_sms(*, job_id: int) -> None:
    """Erase the SMS text at the provider, whose message log keeps bodies otherwise."""
    job = ProvisioningJob.objects.filter(pk=job_id, sms_redaction=Redaction.PENDING).first()
    if job is None:
        return
    try:
        sms.get_backend().redact(message_id=job.sms_message_id)
    except PermanentError as exc:
        ProvisioningJob.objects.filter(pk=job_id).update(
            sms_redaction=Redaction.FAILED, last_error=f"Effacement du SMS : {exc.message}"
        )
        return
    except TransientError:
        raise  # the task retries
    ProvisioningJob.objects.filter(pk=job_id, sms_redaction=Redaction.PENDING).update(
        sms_redaction=Redaction.DONE
    )


def job_alert_sms_failure(*, job_id: int) -> None:
    """Tell the administrators that a member's SMS was not delivered (never the password)."""
    job = ProvisioningJob.objects.select_related("mailbox__domain", "mailbox__member").get(
        pk=job_id
    )
    context = {
        "job": job,
        "mailbox": job.mailbox,
        "reason": sms_failure_reason(job),
        "url": settings.PUBLIC_BASE_URL
        + reverse("admin:accounts_mailbox_change", args=[job.mailbox_id]),
    }
    if not emails.send_to_staff(template="sms_failed", context=context):
        logger.warning("job %s: SMS not delivered, and no administrator has an email", job_id)
