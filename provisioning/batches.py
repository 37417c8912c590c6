"""The job steps for many jobs at once, when a doorbell finds others due (an import, an
approval of many requests, a burst of API calls).

The email step: the claimed jobs' emails are rendered and sent over one SMTP connection,
each failing or retrying alone, and the ones sent finish in one statement.

`steps.job_deliver_password` claims its own job and up to PROVISIONING_BATCH_SIZE - 1
others in one statement, then hands a batch here: every password is generated and hashed,
the claims are checked again (one query), the hashes go to the mail table in one
transaction, the claims and the mailboxes are checked again (one query), the SMS leave at
once over a bounded pool, and the jobs whose SMS was accepted finish in one statement.

Every invariant holds job by job: an SMS leaves only once its hash is committed; a job
whose claim was lost (swept back, claimed anew) sends nothing; a disabled or deleted
mailbox gets nothing; a transient SMS failure retries that job alone, with its own
backoff; a permanent one fails it alone; a mail table that does not answer releases the
whole batch. The plaintext passwords live in the locals of `_write_hashes_then_texts`.
"""

import logging

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Mailbox

from . import emails, mailserver, passwords, sms, tasks
from .exceptions import PermanentError, TransientError
from .models import EMAIL_STEP, PASSWORD_STEP, EmailStatus, ProvisioningJob
from .retries import STOPPED, fail, retry_or_fail

logger = logging.getLogger("provisioning.steps")
Status = Mailbox.Status
NO_DOMAIN = "Le domaine {domain} est absent de la table du serveur mail."


def deliver_passwords(jobs: list[ProvisioningJob]) -> list[str]:
    """The claimed jobs, to their SMS; the message ids of the jobs finished."""
    jobs = [job for job in jobs if _startable(job)]
    sent = _write_hashes_then_texts(jobs) if jobs else {}
    accepted = [job for job in jobs if isinstance(sent.get(job.pk), sms.SentSms)]
    for job in jobs:
        outcome = sent.get(job.pk)
        if isinstance(outcome, TransientError):
            _retry_later(job, outcome)
        elif isinstance(outcome, PermanentError):
            fail(job, PASSWORD_STEP, outcome.message)
    finished = _finish(accepted, {job.pk: sent[job.pk] for job in accepted}) if accepted else []
    logger.info("batch of %s password jobs: %s SMS accepted", len(jobs), len(accepted))
    return finished


def send_emails(jobs: list[ProvisioningJob], context_of) -> None:
    """The claimed email jobs, over one SMTP connection; `context_of(mailbox)` the context."""
    deleted = [job for job in jobs if job.mailbox.status == Status.DELETED]
    for job in deleted:
        fail(job, EMAIL_STEP, "Adresse supprimée entre-temps : aucun email envoyé.")
    jobs = [job for job in jobs if job not in deleted]
    messages = {
        job.pk: emails.render(
            job.kind, context_of(job.mailbox), to=[job.mailbox.member.personal_email]
        )
        for job in jobs
    }
    outcomes = emails.send_many(messages)
    for job in jobs:
        outcome = outcomes[job.pk]
        if isinstance(outcome, TransientError):
            _retry_later(job, outcome, EMAIL_STEP)
        elif isinstance(outcome, PermanentError):
            fail(job, EMAIL_STEP, outcome.message)
    sent = [job for job in jobs if outcomes[job.pk] is None]
    if sent:
        ProvisioningJob.objects.finish_batch(sent, EMAIL_STEP, email_sent_at=timezone.now())
    logger.info("batch of %s email jobs: %s sent", len(jobs), len(sent))


def _startable(job: ProvisioningJob) -> bool:
    if job.mailbox.status in STOPPED:
        fail(job, PASSWORD_STEP, STOPPED[job.mailbox.status])
        return False
    return True


@sensitive_variables()
def _write_hashes_then_texts(jobs: list[ProvisioningJob]) -> dict:
    """{pk: SentSms, TransientError or PermanentError}; a job absent from it sent nothing
    and its end is already recorded (claim lost, stopped, failed or released)."""
    plaintexts = {job.pk: passwords.generate() for job in jobs}
    hashes = {pk: passwords.hash_password(password) for pk, password in plaintexts.items()}
    # Workers that lost their claim while hashing must not replace newer attempts' hashes.
    jobs = _still_ours(jobs)
    written = _write_hashes(jobs, hashes)
    jobs = _still_ours([job for job in jobs if job.mailbox.address in written])
    messages = {
        job.pk: (
            str(job.mailbox.member.phone),
            sms.password_sms(
                kind=job.kind, address=job.mailbox.address, password=plaintexts[job.pk]
            ),
        )
        for job in jobs
    }
    return sms.send_many(messages) if messages else {}


def _still_ours(jobs: list[ProvisioningJob]) -> list[ProvisioningJob]:
    """The jobs whose claim holds (one query); a disabled or deleted mailbox's job fails."""
    held = ProvisioningJob.objects.claims_held(jobs, PASSWORD_STEP) if jobs else {}
    kept = []
    for job in jobs:
        status = held.get(job.pk)
        if status in STOPPED:
            fail(job, PASSWORD_STEP, STOPPED[status])
        elif status is not None:
            kept.append(job)
        else:
            logger.warning("job %s: claim lost; the newer attempt sends its SMS", job.pk)
    return kept


def _write_hashes(jobs: list[ProvisioningJob], hashes: dict) -> set[str]:
    """The addresses whose hash is committed; a mail table down releases the whole batch."""
    users = [
        {
            "address": job.mailbox.address,
            "password_hash": hashes[job.pk],
            "name": job.mailbox.member.full_name,
            # A new row gets the quota (an existing one keeps it: mailsync owns it).
            "quota": job.mailbox.effective_quota,
        }
        for job in jobs
    ]
    try:
        written = mailserver.users_set_passwords(users) if users else set()
    except TransientError as exc:
        for job in jobs:
            _retry_later(job, exc)
        return set()
    except PermanentError as exc:
        for job in jobs:
            fail(job, PASSWORD_STEP, exc.message)
        return set()
    for job in jobs:
        if job.mailbox.address not in written:
            fail(job, PASSWORD_STEP, NO_DOMAIN.format(domain=job.mailbox.domain.name))
    return written


def _retry_later(job: ProvisioningJob, exc: TransientError, step=PASSWORD_STEP) -> None:
    """Released with its own backoff, and rung again for then (the sweep, if this is lost)."""
    if retry_or_fail(job, step, exc):
        tasks.enqueue_step(step, job.pk, countdown=exc.countdown or 0)


def _finish(jobs: list[ProvisioningJob], sent: dict) -> list[str]:
    """One statement for the mailboxes, one for the jobs still ours; then their emails."""
    Mailbox.objects.filter(
        pk__in=[job.mailbox.pk for job in jobs if job.mailbox.status == Status.PENDING],
        status=Status.PENDING,
    ).update(status=Status.ACTIVE, updated_at=timezone.now())
    now = timezone.now()
    finished = ProvisioningJob.objects.finish_batch(
        jobs,
        PASSWORD_STEP,
        each={
            "sms_message_id": {pk: message.message_id for pk, message in sent.items()},
            "sms_status": {pk: message.status for pk, message in sent.items()},
        },
        sms_sent_at=now,
        finished_at=now,
        email_status=EmailStatus.QUEUED,
        email_attempts=0,
    )
    for job in jobs:
        if job.pk in finished:
            tasks.enqueue_step(EMAIL_STEP, job.pk)
        else:
            logger.warning(
                "job %s: claim lost after its SMS; kept as the newer one left it", job.pk
            )
    return [sent[pk].message_id for pk in finished]
