"""The use cases people call: create a mailbox, reset its password, disable, enable.

Keyword-only, each with the `actor` who asks, and each records its own act in the audit
trail (invariant 8), whoever calls it: the admin, a command, an approval, an import. The
worker's side of a job is in steps.py.
"""

import logging
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Alias, Domain, Mailbox, Member
from accounts.services import member_validate
from accounts.validators import validate_local_part
from audit.models import Action
from audit.services import Actor, audited

from . import mailserver, selectors, tasks
from .exceptions import ProvisioningError
from .models import EMAIL_STEP, PASSWORD_STEP, ProvisioningJob

logger = logging.getLogger(__name__)
Status = Mailbox.Status

ADOPTED_ROW_WARNING = (
    "La table du serveur mail contenait déjà {address} (créée à la main ?) : la ligne est "
    "reprise, et son mot de passe sera remplacé par celui envoyé par SMS."
)


RESERVED_WARNING = (
    "{address} est une adresse de rôle (réservée : les membres ne peuvent pas la demander) ; "
    "créée quand même, à votre demande."
)


@dataclass(frozen=True)
class CreateOutcome:
    job: ProvisioningJob
    adopted_row: bool  # the mail table already held the address (made by hand): adopted
    reserved: bool = False  # a role address, created on purpose by the administrator

    @property
    def mailbox(self) -> Mailbox:
        return self.job.mailbox

    @property
    def warning(self) -> str | None:
        """What the administrator must know, in French; None when all went as usual."""
        address = self.mailbox.address
        warnings = [
            text.format(address=address)
            for text, applies in ((RESERVED_WARNING, self.reserved),
                                  (ADOPTED_ROW_WARNING, self.adopted_row))
            if applies
        ]  # fmt: skip
        return " ".join(warnings) or None


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
    *,
    local_part: str,
    domain: Domain,
    full_name: str,
    personal_email: str,
    phone,
    allow_reserved: bool = False,
    check_taken: bool = True,
) -> dict:
    """Every field checked before anything is written; errors keyed by field, in French.

    A role address (postmaster@, abuse@…) is refused unless `allow_reserved`: only the
    administrator creates one, on purpose. `check_taken=False` leaves out whether the
    address is taken (by a mailbox or an alias): the public request page must neither tell
    it nor take longer for it, and the CSV import knows the domain's addresses already.
    """
    errors: dict[str, list[str]] = {}
    cleaned: dict = {"domain": domain}
    try:
        cleaned.update(
            member_validate(full_name=full_name, personal_email=personal_email, phone=phone)
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        cleaned["local_part"] = _available_local_part(local_part, domain, check_taken)
        if not allow_reserved and is_reserved(cleaned["local_part"]):
            raise ValidationError(
                f"L'adresse {cleaned['local_part']}@{domain.name} est réservée à un rôle "
                "technique (postmaster, abuse, noreply…) : choisissez-en une autre.",
                code="reserved",
            )
    except ValidationError as exc:
        errors["local_part"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return cleaned


def is_reserved(local_part: str) -> bool:
    """A role address: RESERVED_LOCAL_PARTS, and the local part of our own sender."""
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[0]
    reserved = {name.lower() for name in settings.RESERVED_LOCAL_PARTS} | {sender.lower()}
    return (local_part or "").strip().lower() in reserved - {""}


def mailbox_address_problem(*, local_part: str, domain: Domain) -> str | None:
    """What is wrong with this address for a new mailbox, in French; None when it is free."""
    try:
        _available_local_part(local_part, domain)
    except ValidationError as exc:
        return " ".join(exc.messages)
    return None


def _available_local_part(local_part: str, domain: Domain, check_taken: bool = True) -> str:
    # Addresses are case-insensitive: "Pierre" is "pierre", and collides with it.
    value = (local_part or "").strip().lower()
    validate_local_part(value)
    if not check_taken:
        return value
    # Lower() matches the unique index on (lower(local_part), domain): no table scan.
    taken = Mailbox.objects.annotate(lowered=Lower("local_part"))
    status = taken.filter(domain=domain, lowered=value).values_list("status", flat=True).first()
    if status == Status.DELETED:
        raise ValidationError(
            f"L'adresse {value}@{domain.name} existe déjà (supprimée : une adresse n'est jamais "
            "redonnée à quelqu'un d'autre).",
            code="taken",
        )
    if status is not None:
        raise ValidationError(f"L'adresse {value}@{domain.name} existe déjà.", code="taken")
    aliases = Alias.objects.annotate(lowered=Lower("local_part"))
    if aliases.filter(domain=domain, lowered=value).exists():
        raise ValidationError(
            f"L'adresse {value}@{domain.name} existe déjà (c'est un alias).", code="taken"
        )
    return value


def mailbox_create(
    *,
    local_part: str,
    domain: Domain,
    full_name: str,
    personal_email: str,
    phone,
    actor: Actor,
    reason: str = "",
    allow_reserved: bool = False,
) -> CreateOutcome:
    """Write the member, the mailbox and its creation job; the worker does the rest.

    `reason` says, in the audit trail, where the creation came from (a request, an import);
    `allow_reserved` lets the administrator create a role address on purpose.
    """
    address = f"{(local_part or '').strip().lower()}@{domain.name}"
    with audited(Action.MAILBOX_CREATE, actor=actor, target=address) as act:
        data = mailbox_validate(
            local_part=local_part,
            domain=domain,
            full_name=full_name,
            personal_email=personal_email,
            phone=phone,
            allow_reserved=allow_reserved,
        )
        # Asked before the commit: once it commits, a worker (or an eager task) may write
        # the row at once, and it would look like a row made by hand.
        adopted_row = _row_already_there(f"{data['local_part']}@{domain.name}")
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
                job = _job_queue(mailbox, ProvisioningJob.Kind.CREATE, actor)
        except IntegrityError:
            raise ValidationError(
                {"local_part": [f"L'adresse {data['local_part']}@{domain.name} existe déjà."]}
            ) from None
        outcome = CreateOutcome(
            job=job, adopted_row=adopted_row, reserved=is_reserved(mailbox.local_part)
        )
        act.target = mailbox.address
        # The act, never the member's name or contact details (invariant 7).
        act.detail = "; ".join(
            part for part in (f"envoi n°{job.pk}", reason, outcome.warning) if part
        )
    logger.info("mailbox %s created, job %s queued", mailbox.address, job.pk)
    return outcome


def _row_already_there(address: str) -> bool:
    """A row made by hand before the app: adopted, its password replaced only by the job."""
    try:
        found = mailserver.user_row(address) is not None
    except ProvisioningError:
        return False  # the mail database is away: the job will retry, nothing to warn about
    if found:
        logger.warning("mailbox %s: adopting the row already in the mail table", address)
    return found


def mailbox_resolve(mailbox: Mailbox | str, *, fresh: bool = False) -> Mailbox:
    """The Mailbox given, read again when `fresh`, or the one at a full address as typed
    (commands, API); a ValidationError naming what is wrong otherwise."""
    if not isinstance(mailbox, Mailbox):
        return mailbox_get(address=mailbox)
    if fresh:
        return Mailbox.objects.select_related("domain", "member").get(pk=mailbox.pk)
    return mailbox


def mailbox_target(mailbox: Mailbox | str) -> str:
    """What the audit trail names: the address, as stored or as typed."""
    return mailbox.address if isinstance(mailbox, Mailbox) else mailbox.strip().lower()


def mailbox_password_reset(
    *, mailbox: Mailbox | str, actor: Actor, reason: str = ""
) -> ResetOutcome:
    """Queue a new password, or join the delivery already on its way (never two at once).

    `mailbox` is a Mailbox, or its full address as typed (commands, API).
    """
    with audited(Action.PASSWORD_RESET, actor=actor, target=mailbox_target(mailbox)) as act:
        outcome = _password_reset(mailbox_resolve(mailbox), actor)
        joined = "demande déjà en cours, rejointe" if outcome.merged else ""
        act.detail = "; ".join(part for part in (joined, reason) if part)
    return outcome


def refuse_deleted(mailbox: Mailbox) -> None:
    """A deleted mailbox takes no act but its erasure: no password, no enabling, no email."""
    if mailbox.status == Status.DELETED:
        raise ValidationError(
            f"L'adresse {mailbox.address} est supprimée : plus aucune connexion ni aucun envoi "
            "(ses données sont effacées après le délai de conservation)."
        )


def _password_reset(mailbox: Mailbox, actor: Actor) -> ResetOutcome:
    refuse_deleted(mailbox)
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
            job = _job_queue(mailbox, kind, actor)
    except IntegrityError:
        # Another request won the race: the partial unique index keeps one job in flight.
        return ResetOutcome(ProvisioningJob.objects.in_flight().get(mailbox=mailbox), merged=True)
    logger.info("password reset of %s queued as job %s", mailbox.address, job.pk)
    return ResetOutcome(job, merged=False)


def mailbox_disable(*, mailbox: Mailbox | str, actor: Actor) -> Mailbox:
    """Refuse logins at once in the mail table, then record it; raises ProvisioningError."""
    with audited(Action.MAILBOX_DISABLE, actor=actor, target=mailbox_target(mailbox)) as act:
        mailbox = mailbox_resolve(mailbox)
        refuse_deleted(mailbox)
        if mailbox.status == Status.DISABLED:
            raise ValidationError(f"L'adresse {mailbox.address} est déjà désactivée.")
        if mailserver.user_row(mailbox.address) is not None:
            mailserver.user_set_active(address=mailbox.address, active=False)
        _mailbox_move(mailbox, to=Status.DISABLED)
        # The aliases still reaching it: their mail to it is refused from now on.
        act.detail = selectors.still_reaching_note(mailbox.address) or ""
    logger.info("mailbox %s disabled", mailbox.address)
    return mailbox


def mailbox_enable(*, mailbox: Mailbox | str, actor: Actor) -> Mailbox:
    with audited(Action.MAILBOX_ENABLE, actor=actor, target=mailbox_target(mailbox)):
        mailbox = mailbox_resolve(mailbox)
        refuse_deleted(mailbox)
        if mailbox.status != Status.DISABLED:
            raise ValidationError(f"L'adresse {mailbox.address} n'est pas désactivée.")
        if mailserver.user_row(mailbox.address) is None:
            # Disabled before its first password: it waits for one again.
            _mailbox_move(mailbox, to=Status.PENDING)
        else:
            mailserver.user_set_active(address=mailbox.address, active=True)
            _mailbox_move(mailbox, to=Status.ACTIVE)
    logger.info("mailbox %s enabled", mailbox.address)
    return mailbox


def mailbox_confirmation_resend(*, mailbox: Mailbox | str, actor: Actor) -> ProvisioningJob:
    with audited(Action.CONFIRMATION_RESEND, actor=actor, target=mailbox_target(mailbox)):
        mailbox = mailbox_resolve(mailbox)
        refuse_deleted(mailbox)
        job = mailbox.jobs.filter(state=PASSWORD_STEP.done).order_by("-created_at", "-pk").first()
        if job is None:
            raise ValidationError(
                f"Aucun mot de passe n'a encore été envoyé pour {mailbox.address} : "
                "il n'y a pas d'email de confirmation à renvoyer."
            )
        if not ProvisioningJob.objects.requeue_email(job.pk):
            raise ValidationError(f"L'email de {mailbox.address} est déjà en cours d'envoi.")
        tasks.enqueue_step(EMAIL_STEP, job.pk)
    return job


def _job_queue(mailbox: Mailbox, kind: str, actor: Actor) -> ProvisioningJob:
    """The one place a delivery is created: the job, the mailbox's `last_job` pointing to it
    (the caller's transaction holds both), and its doorbell rung on commit."""
    job = ProvisioningJob.objects.create(mailbox=mailbox, kind=kind, requested_by=actor.user)
    Mailbox.objects.filter(pk=mailbox.pk).update(last_job=job)
    mailbox.last_job = job
    tasks.enqueue_step(PASSWORD_STEP, job.pk)
    return job


def _mailbox_move(mailbox: Mailbox, *, to: str) -> None:
    Mailbox.objects.filter(pk=mailbox.pk, status=mailbox.status).update(
        status=to, updated_at=timezone.now()
    )
    mailbox.status = to
