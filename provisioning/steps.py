"""The worker's steps, called by tasks with a job id: claim, do, finish.

The password step generates, hashes, commits the hash, then sends the SMS; the email step
sends the settings or the notice; then Twilio's status callbacks, the redaction of the SMS
text at the provider and the alert when an SMS was not delivered. The steps build what the
gateways need and pass them plain values.
"""

import logging
from datetime import timedelta
from email.utils import parseaddr

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.autoconfig import mobileconfig_url
from accounts.models import Mailbox

from . import batches, emails, mailserver, passwords, selectors, sms, tasks
from .exceptions import PermanentError
from .models import (
    EMAIL_STEP,
    PASSWORD_STEP,
    SMS_NOT_DELIVERED,
    SMS_STATUS_RANK,
    EmailStatus,
    ProvisioningJob,
    Redaction,
    SmsStatusEvent,
)
from .retries import STOPPED, attempt, fail

logger = logging.getLogger(__name__)
Status = Mailbox.Status


# --- The password, then the email -----------------------------------------------------------


def job_deliver_password(*, job_id: int) -> None:
    """Claim, generate, hash and commit to the mail table, then SMS; raise to be retried.

    Other password jobs due are claimed with this one (PROVISIONING_BATCH_SIZE) and go the
    batch path; alone, the job goes this one, without waiting for company.
    """
    jobs = ProvisioningJob.objects.claim_batch(
        job_id, PASSWORD_STEP, limit=settings.PROVISIONING_BATCH_SIZE
    )
    if not jobs:
        logger.info("job %s: nothing to do (finished, or another worker holds it)", job_id)
        return
    if len(jobs) > 1:
        sms_events_apply(message_ids=batches.deliver_passwords(jobs))
        return
    [job] = jobs
    if job.mailbox.status in STOPPED:
        fail(job, PASSWORD_STEP, STOPPED[job.mailbox.status])
        return
    ok, sent = attempt(job, PASSWORD_STEP, lambda: _write_hash_then_text(job))
    if not ok:
        return
    if sent is None:
        logger.warning("job %s: claim lost before the SMS; the newer attempt sends it", job_id)
        return
    # Active once a password reached the member: after a failed first SMS the mailbox stays
    # pending, so the next attempt is a creation, with the settings email.
    if job.mailbox.status == Status.PENDING:
        Mailbox.objects.filter(pk=job.mailbox.pk, status=Status.PENDING).update(
            status=Status.ACTIVE, updated_at=timezone.now()
        )
    now = timezone.now()
    if ProvisioningJob.objects.finish(
        job,
        PASSWORD_STEP,
        sms_message_id=sent.message_id,
        sms_status=sent.status,
        sms_sent_at=now,
        finished_at=now,
        email_status=EmailStatus.QUEUED,
        email_attempts=0,
    ):
        logger.info("job %s: SMS %s accepted for %s", job_id, sent.message_id, job.mailbox)
        tasks.enqueue_step(EMAIL_STEP, job.pk)
        sms_events_apply(message_ids=[sent.message_id])


@sensitive_variables("password", "body")
def _write_hash_then_text(job: ProvisioningJob) -> sms.SentSms | None:
    """Invariant 2: the SMS goes out only after its hash is committed in the mail table."""
    mailbox = job.mailbox
    password = passwords.generate()
    password_hash = passwords.hash_password(password)
    # A worker that lost its claim while hashing must not replace the newer attempt's hash.
    if not _still_ours(job):
        return None
    # A new row gets the quota (an existing one keeps it: provisioning.mailsync owns it).
    mailserver.user_set_password(
        address=mailbox.address,
        password_hash=password_hash,
        name=mailbox.member.full_name,
        quota=mailbox.effective_quota,
    )
    if not _still_ours(job):  # deleted while the hash was written: no SMS, ever
        return None
    body = sms.password_sms(kind=job.kind, address=mailbox.address, password=password)
    return sms.send_sms(to=str(mailbox.member.phone), body=body)


def _still_ours(job: ProvisioningJob) -> bool:
    """The claim is still this attempt's (one query, which also reads the mailbox's status).

    mailbox_delete stops the jobs in flight; a mailbox deleted or disabled meanwhile is
    refused even for one it did not see, as the batch path refuses it (batches._still_ours).
    """
    held = ProvisioningJob.objects.claims_held([job], PASSWORD_STEP)
    if held.get(job.pk) in STOPPED:
        raise PermanentError(STOPPED[held[job.pk]])
    return job.pk in held


def job_send_email(*, job_id: int) -> None:
    """The email after the SMS: settings after a creation, a notice after a reset."""
    jobs = ProvisioningJob.objects.claim_batch(
        job_id, EMAIL_STEP, limit=settings.PROVISIONING_BATCH_SIZE
    )
    if len(jobs) > 1:
        batches.send_emails(jobs, member_email_context)
    if len(jobs) != 1:
        return
    [job] = jobs
    if job.mailbox.status == Status.DELETED:
        fail(job, EMAIL_STEP, "Adresse supprimée entre-temps : aucun email envoyé.")
        return
    ok, _sent = attempt(job, EMAIL_STEP, lambda: _send_member_email(job))
    if ok:
        ProvisioningJob.objects.finish(job, EMAIL_STEP, email_sent_at=timezone.now())


def _send_member_email(job: ProvisioningJob) -> None:
    mailbox = job.mailbox
    emails.send_rendered(
        template=job.kind, context=member_email_context(mailbox), to=[mailbox.member.personal_email]
    )


def member_email_context(mailbox: Mailbox) -> dict:
    """What the settings email and the reset notice show: never the password."""
    return {
        "address": mailbox.address,
        "mailbox": mailbox,
        "member": mailbox.member,
        "domain": mailbox.domain,
        "masked_phone": mailbox.member.masked_phone,
        "contact": mailbox.domain.contact_email or parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        "mobileconfig_url": mobileconfig_url(mailbox),
    }


# --- The sweep ------------------------------------------------------------------------------


def jobs_sweep() -> dict[str, int]:
    """Ring again for jobs whose message was lost or whose worker died (invariant 4)."""
    now = timezone.now()
    rung = {}
    for step in (PASSWORD_STEP, EMAIL_STEP):
        count = 0
        for pk in ProvisioningJob.objects.lost(step, now=now).values_list("pk", flat=True)[:500]:
            if ProvisioningJob.objects.requeue_lost(pk, step, now=now):
                tasks.enqueue_step(step, pk)
                count += 1
        rung[step.name] = count
    rung["redaction"] = redactions_sweep(now=now)
    if any(rung.values()):
        logger.warning("sweep re-enqueued lost jobs: %s", rung)
    return rung


# --- After the SMS left: status callbacks, redaction, alert ---------------------------------


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


def sms_events_apply(*, message_ids: list[str]) -> None:
    """Callbacks that arrived before the jobs recorded their message ids, applied now."""
    if not message_ids:
        return
    events = SmsStatusEvent.objects.filter(message_sid__in=message_ids)
    for event in sorted(events, key=lambda e: SMS_STATUS_RANK.get(e.status, -1)):
        _apply(event.message_sid, event.status, event.error_code)


def _apply(message_sid: str, status: str, error_code: int | None) -> None:
    moved = ProvisioningJob.objects.record_sms_status(
        message_sid=message_sid, status=status, error_code=error_code, at=timezone.now()
    )
    if moved is None:
        return
    logger.info("job %s: SMS %s is now %s (%s)", moved, message_sid, status, error_code)
    job = ProvisioningJob.objects.only("sms_redaction").get(pk=moved)
    if job.sms_redaction == Redaction.PENDING:
        tasks.redact_sms.ring_on_commit(moved)
    if status in SMS_NOT_DELIVERED:
        tasks.alert_sms_failure.delay_on_commit(moved)


# A message is final at the provider a day after it left, callback or not.
REDACT_WITHOUT_CALLBACK_AFTER = timedelta(days=1)


def redactions_sweep(*, now) -> int:
    """Ring again for redactions still pending after a grace period (lost message), and
    ask for those whose final status never came back (a lost callback, a wrong
    PUBLIC_BASE_URL): the text must not stay in the provider's log (invariant 1)."""
    silent = ProvisioningJob.objects.filter(
        state=PASSWORD_STEP.done,
        sms_redaction=Redaction.NONE,
        sms_sent_at__lt=now - REDACT_WITHOUT_CALLBACK_AFTER,
    ).exclude(sms_message_id="")
    silent.update(sms_redaction=Redaction.PENDING)  # updated_at kept: rung just below
    grace = now - timedelta(seconds=settings.PROVISIONING_QUEUED_GRACE)
    pending = ProvisioningJob.objects.filter(sms_redaction=Redaction.PENDING, updated_at__lt=grace)
    count = 0
    for pk in pending.values_list("pk", flat=True)[:500]:
        if pending.filter(pk=pk).update(updated_at=now):
            tasks.redact_sms.ring_on_commit(pk)
            count += 1
    return count


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
    ProvisioningJob.objects.filter(pk=job_id, sms_redaction=Redaction.PENDING).update(
        sms_redaction=Redaction.DONE
    )


def job_alert_sms_failure(*, job_id: int) -> None:
    """Tell the administrators, and the gestionnaires of the mailbox's domain, that a member's
    SMS was not delivered (never the password)."""
    job = ProvisioningJob.objects.select_related("mailbox__domain", "mailbox__member").get(
        pk=job_id
    )
    recipients = selectors.staff_addresses(job.mailbox.domain_id)
    if not recipients:
        logger.warning("job %s: SMS not delivered, and no administrator has an email", job_id)
        return
    context = {
        "job": job,
        "mailbox": job.mailbox,
        "reason": selectors.sms_failure_reason(job),
        "url": settings.PUBLIC_BASE_URL
        + reverse("admin:accounts_mailbox_change", args=[job.mailbox_id]),
    }
    emails.send_rendered(template="sms_failed", context=context, to=recipients, html=False)
