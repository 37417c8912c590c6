"""Use cases: create a mailbox, reset its password, disable, enable; and the worker's steps."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts.models import Domain, Mailbox, Member
from accounts.services import member_validate
from accounts.validators import validate_local_part

from . import deliveries, emails, mailserver, passwords, sms
from .exceptions import PermanentError, ProvisioningError, TransientError
from .models import EMAIL_STEP, PASSWORD_STEP, EmailStatus, ProvisioningJob, Step

logger = logging.getLogger(__name__)
Status = Mailbox.Status


@dataclass(frozen=True)
class ResetOutcome:
    job: ProvisioningJob
    merged: bool  # True: a delivery was already on its way, this request joined it


# --- Looking things up -------------------------------------------------------------------


def mailbox_get(*, address: str) -> Mailbox:
    """The mailbox for a full address, or a ValidationError naming what is wrong."""
    local_part, _at, domain_name = address.strip().lower().rpartition("@")
    if not local_part or not domain_name:
        raise ValidationError(f"« {address} » n'est pas une adresse complète (nom@domaine).")
    try:
        return Mailbox.objects.select_related("domain", "member").get(
            local_part=local_part, domain__name=domain_name
        )
    except Mailbox.DoesNotExist:
        raise ValidationError(f"L'adresse {local_part}@{domain_name} n'existe pas.") from None


def domain_get(*, name: str) -> Domain:
    try:
        return Domain.objects.get(name=name.strip().lower())
    except Domain.DoesNotExist:
        known = ", ".join(Domain.objects.values_list("name", flat=True)) or "aucun"
        raise ValidationError(
            f"Le domaine « {name} » n'est pas géré ici (domaines connus : {known})."
        ) from None


# --- Administrator's use cases -------------------------------------------------------------


def mailbox_validate(
    *, local_part: str, domain: Domain, full_name: str, personal_email: str, phone
) -> dict:
    """Every field checked before anything is written; errors keyed by field, in French."""
    errors: dict[str, list[str]] = {}
    cleaned: dict = {"domain": domain}
    try:
        cleaned.update(
            member_validate(full_name=full_name, personal_email=personal_email, phone=phone)
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        cleaned["local_part"] = _available_local_part(local_part, domain)
    except ValidationError as exc:
        errors["local_part"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return cleaned


def mailbox_address_problem(*, local_part: str, domain: Domain) -> str | None:
    """What is wrong with this address for a new mailbox, in French; None when it is free."""
    try:
        _available_local_part(local_part, domain)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


def _available_local_part(local_part: str, domain: Domain) -> str:
    # Addresses are case-insensitive: "Pierre" is "pierre", and collides with it.
    value = (local_part or "").strip().lower()
    validate_local_part(value)
    # Lower() matches the unique index on (lower(local_part), domain): no table scan.
    taken = Mailbox.objects.annotate(lowered=Lower("local_part"))
    if taken.filter(domain=domain, lowered=value).exists():
        raise ValidationError(f"L'adresse {value}@{domain.name} existe déjà.", code="taken")
    return value


def mailbox_create(
    *,
    local_part: str,
    domain: Domain,
    full_name: str,
    personal_email: str,
    phone,
    requested_by=None,
) -> ProvisioningJob:
    """Write the member, the mailbox and its creation job; the worker does the rest."""
    data = mailbox_validate(
        local_part=local_part,
        domain=domain,
        full_name=full_name,
        personal_email=personal_email,
        phone=phone,
    )
    try:
        with transaction.atomic():
            member = Member.objects.create(
                full_name=data["full_name"],
                personal_email=data["personal_email"],
                phone=data["phone"],
            )
            mailbox = Mailbox.objects.create(
                local_part=data["local_part"], domain=domain, member=member
            )
            job = ProvisioningJob.objects.create(
                mailbox=mailbox, kind=ProvisioningJob.Kind.CREATE, requested_by=requested_by
            )
            _enqueue(PASSWORD_STEP, job.pk)
    except IntegrityError:
        raise ValidationError(
            {"local_part": [f"L'adresse {data['local_part']}@{domain.name} existe déjà."]}
        ) from None
    job.adopted_row = _row_already_there(mailbox.address)
    logger.info("mailbox %s created, job %s queued", mailbox.address, job.pk)
    return job


ADOPTED_ROW_WARNING = (
    "La table du serveur mail contenait déjà {address} (créée à la main ?) : la ligne est "
    "reprise, et son mot de passe sera remplacé par celui envoyé par SMS."
)


def _row_already_there(address: str) -> bool:
    """A row made by hand before the app: adopted, its password replaced only by the job."""
    try:
        found = mailserver.user_row(address) is not None
    except ProvisioningError:
        return False  # the mail database is away: the job will retry, nothing to warn about
    if found:
        logger.warning("mailbox %s: adopting the row already in the mail table", address)
    return found


def mailbox_password_reset(*, mailbox: Mailbox, requested_by=None) -> ResetOutcome:
    """Queue a new password, or join the delivery already on its way (never two at once)."""
    if mailbox.status == Status.DISABLED:
        raise ValidationError(
            f"L'adresse {mailbox.address} est désactivée : réactivez-la avant d'envoyer "
            "un nouveau mot de passe."
        )
    in_flight = ProvisioningJob.objects.in_flight().filter(mailbox=mailbox).first()
    if in_flight is not None:
        return ResetOutcome(in_flight, merged=True)
    # A mailbox that never got its first password gets the creation email, not a notice.
    kind = (
        ProvisioningJob.Kind.CREATE
        if mailbox.status == Status.PENDING
        else ProvisioningJob.Kind.RESET
    )
    try:
        with transaction.atomic():
            job = ProvisioningJob.objects.create(
                mailbox=mailbox, kind=kind, requested_by=requested_by
            )
            _enqueue(PASSWORD_STEP, job.pk)
    except IntegrityError:
        # Another request won the race: the partial unique index keeps one job in flight.
        return ResetOutcome(ProvisioningJob.objects.in_flight().get(mailbox=mailbox), merged=True)
    logger.info("password reset of %s queued as job %s", mailbox.address, job.pk)
    return ResetOutcome(job, merged=False)


def mailbox_disable(*, mailbox: Mailbox) -> None:
    """Refuse logins at once in the mail table, then record it; raises ProvisioningError."""
    if mailbox.status == Status.DISABLED:
        raise ValidationError(f"L'adresse {mailbox.address} est déjà désactivée.")
    if mailserver.user_row(mailbox.address) is not None:
        mailserver.user_set_active(address=mailbox.address, active=False)
    _mailbox_move(mailbox, to=Status.DISABLED)
    logger.info("mailbox %s disabled", mailbox.address)


def mailbox_enable(*, mailbox: Mailbox) -> None:
    if mailbox.status != Status.DISABLED:
        raise ValidationError(f"L'adresse {mailbox.address} n'est pas désactivée.")
    if mailserver.user_row(mailbox.address) is None:
        # Disabled before its first password: it waits for one again.
        _mailbox_move(mailbox, to=Status.PENDING)
    else:
        mailserver.user_set_active(address=mailbox.address, active=True)
        _mailbox_move(mailbox, to=Status.ACTIVE)
    logger.info("mailbox %s enabled", mailbox.address)


def mailbox_confirmation_resend(*, mailbox: Mailbox) -> ProvisioningJob:
    job = mailbox.jobs.filter(state=PASSWORD_STEP.done).order_by("-created_at", "-pk").first()
    if job is None:
        raise ValidationError(
            f"Aucun mot de passe n'a encore été envoyé pour {mailbox.address} : "
            "il n'y a pas d'email de confirmation à renvoyer."
        )
    if not ProvisioningJob.objects.requeue_email(job.pk):
        raise ValidationError(f"L'email de {mailbox.address} est déjà en cours d'envoi.")
    _enqueue(EMAIL_STEP, job.pk)
    return job


def _mailbox_move(mailbox: Mailbox, *, to: str) -> None:
    Mailbox.objects.filter(pk=mailbox.pk, status=mailbox.status).update(
        status=to, updated_at=timezone.now()
    )
    mailbox.status = to


# --- Worker steps (called by tasks with a job id) -----------------------------------------


def job_deliver_password(*, job_id: int) -> None:
    """Claim, generate, hash and commit to the mail table, then SMS; raise to be retried."""
    job = ProvisioningJob.objects.claim(job_id, PASSWORD_STEP)
    if job is None:
        logger.info("job %s: nothing to do (finished, or another worker holds it)", job_id)
        return
    if job.mailbox.status == Status.DISABLED:
        _fail(job, PASSWORD_STEP, "Adresse désactivée entre-temps : aucun mot de passe envoyé.")
        return
    ok, sent = _attempt(job, PASSWORD_STEP, lambda: _write_hash_then_text(job))
    if not ok:
        return
    if sent is None:
        logger.warning("job %s: claim lost before the SMS; the newer attempt sends it", job_id)
        return
    # Active once a password reached the member: after a failed first SMS the mailbox stays
    # pending, so the next attempt is a creation, with the settings email.
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
        _enqueue(EMAIL_STEP, job.pk)
        job.sms_message_id = sent.message_id
        deliveries.sms_events_apply(job=job)


@sensitive_variables("password")
def _write_hash_then_text(job: ProvisioningJob) -> sms.SentSms | None:
    """Invariant 2: the SMS goes out only after its hash is committed in the mail table."""
    mailbox = job.mailbox
    password = passwords.generate()
    password_hash = passwords.hash_password(password)
    # A worker that lost its claim while hashing must not replace the newer attempt's hash.
    if not ProvisioningJob.objects.holds_claim(job, PASSWORD_STEP):
        return None
    mailserver.user_set_password(
        address=mailbox.address, password_hash=password_hash, name=mailbox.member.full_name
    )
    if not ProvisioningJob.objects.holds_claim(job, PASSWORD_STEP):
        return None
    body = sms.password_sms(kind=job.kind, address=mailbox.address, password=password)
    return sms.send_sms(to=str(mailbox.member.phone), body=body)


def job_send_email(*, job_id: int) -> None:
    """The email after the SMS: settings after a creation, a notice after a reset."""
    job = ProvisioningJob.objects.claim(job_id, EMAIL_STEP)
    if job is None:
        return
    ok, _sent = _attempt(
        job, EMAIL_STEP, lambda: emails.send_member_email(kind=job.kind, mailbox=job.mailbox)
    )
    if ok:
        ProvisioningJob.objects.finish(job, EMAIL_STEP, email_sent_at=timezone.now())


def jobs_sweep() -> dict[str, int]:
    """Ring again for jobs whose message was lost or whose worker died (invariant 4)."""
    now = timezone.now()
    rung = {}
    for step in (PASSWORD_STEP, EMAIL_STEP):
        count = 0
        for pk in ProvisioningJob.objects.lost(step, now=now).values_list("pk", flat=True)[:500]:
            if ProvisioningJob.objects.requeue_lost(pk, step, now=now):
                _enqueue(step, pk)
                count += 1
        rung[step.name] = count
    rung["redaction"] = deliveries.redactions_sweep(now=now)
    if any(rung.values()):
        logger.warning("sweep re-enqueued lost jobs: %s", rung)
    return rung


def job_retry_countdown(*, job_id: int) -> float:
    """Seconds until the job's next attempt is due (its retry message's countdown)."""
    due = ProvisioningJob.objects.filter(pk=job_id).values_list("next_attempt_at", flat=True)
    moment = due.first()
    return max(0.0, (moment - timezone.now()).total_seconds()) if moment else 0.0


def _attempt(job: ProvisioningJob, step: Step, work):
    """(True, result) when `work` succeeds; (False, None) once its failure is on the job.

    A TransientError with attempts left is re-raised, for the task to retry it.
    """
    try:
        return True, work()
    except TransientError as exc:
        if _retry_or_fail(job, step, exc):
            raise
    except PermanentError as exc:
        _fail(job, step, exc.message)
    return False, None


def _retry_or_fail(job: ProvisioningJob, step: Step, exc: TransientError) -> bool:
    """True when another attempt is scheduled; False when the job has given up."""
    attempts = getattr(job, step.attempts)
    if attempts >= settings.PROVISIONING_MAX_ATTEMPTS:
        _fail(job, step, f"Abandon après {attempts} tentatives : {exc.message}")
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
    logger.warning(
        "job %s (%s): attempt %s failed, retry in %ss", job.pk, step.name, attempts, delay
    )
    return True


def _fail(job: ProvisioningJob, step: Step, message: str) -> None:
    fields = {"finished_at": timezone.now()} if step is PASSWORD_STEP else {}
    ProvisioningJob.objects.fail(job, step, error=message, **fields)
    logger.error("job %s (%s) failed: %s", job.pk, step.name, message)


def _enqueue(step: Step, job_id: int) -> None:
    """Ring the doorbell once the transaction commits; the job itself is already recorded."""
    from . import tasks  # tasks import this module

    task = tasks.deliver_password if step is PASSWORD_STEP else tasks.send_job_email
    task.delay_on_commit(job_id)
