"""Deleting a mailbox: logins refused at once, its jobs stopped, its address kept.

The mail table's row is disabled first, so that nothing changes in the app when the mail
database is away. The address stays, marked deleted, so that it is never given to someone
else; what is held of its member is erased after MEMBER_RETENTION_DAYS, or at once on a
confirmed choice (provisioning.erasure).
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Mailbox
from audit.models import Action
from audit.services import Actor, audited

from . import mailserver, selectors, services
from .erasure import EraseOutcome, day, erasure_due_at, mailbox_erase
from .exceptions import ProvisioningError
from .models import EmailStatus, JobState, ProvisioningJob

logger = logging.getLogger(__name__)
Status = Mailbox.Status
STOPPED = "Adresse supprimée : envoi arrêté, aucun SMS ni email ne part."


@dataclass(frozen=True)
class DeleteOutcome:
    mailbox: Mailbox
    reaching: tuple[str, ...]  # aliases whose mail reached it (directly or not)
    erased: EraseOutcome | None = None
    erase_error: str | None = None  # deleted, but its erasure at once failed (French)

    @property
    def erase_after(self) -> datetime | None:
        return None if self.erased else erasure_due_at(self.mailbox)


def mailbox_delete(
    *, mailbox: Mailbox | str, actor: Actor, erase_now: bool = False
) -> DeleteOutcome:
    """Refuse its logins at once and stop its jobs; erased after MEMBER_RETENTION_DAYS, or
    now with `erase_now` (a confirmed choice: it cannot be undone). Raises ValidationError,
    or ProvisioningError when the mail table could not be changed (then nothing changed).

    `mailbox` is a Mailbox or its full address as typed. A mailbox deleted before is only
    erased, with `erase_now`.
    """
    found = _quiet_lookup(mailbox)
    if erase_now and found is not None and found.status == Status.DELETED:
        return DeleteOutcome(found, (), erased=mailbox_erase(mailbox=found, actor=actor))
    with audited(
        Action.MAILBOX_DELETE, actor=actor, target=services.mailbox_target(mailbox)
    ) as act:
        mailbox = services.mailbox_resolve(mailbox, fresh=True)
        if mailbox.status == Status.DELETED:
            raise ValidationError(_already_deleted(mailbox))
        reaching = tuple(
            alias.address for alias, _via in selectors.aliases_reaching(mailbox.address)
        )
        if mailserver.user_row(mailbox.address) is not None:
            mailserver.user_set_active(address=mailbox.address, active=False)
        stopped = _mark_deleted(mailbox)
        act.detail = _deletion_detail(mailbox, reaching, stopped, erase_now)
    logger.info("mailbox %s deleted, %s job(s) stopped", mailbox.address, stopped)
    _disable_a_late_row(mailbox.address)
    if not erase_now:
        return DeleteOutcome(mailbox, reaching)
    try:
        return DeleteOutcome(mailbox, reaching, erased=mailbox_erase(mailbox=mailbox, actor=actor))
    except ProvisioningError as exc:  # recorded by mailbox_erase; the purge tries again
        return DeleteOutcome(mailbox, reaching, erase_error=exc.message)


def _already_deleted(mailbox: Mailbox) -> str:
    text = f"L'adresse {mailbox.address} est déjà supprimée (le {day(mailbox.deleted_at)})"
    if mailbox.erased_at:
        return f"{text} et ses données sont effacées (le {day(mailbox.erased_at)})."
    return f"{text} ; ses données seront effacées le {day(erasure_due_at(mailbox))}."


def _quiet_lookup(mailbox: Mailbox | str) -> Mailbox | None:
    try:
        return services.mailbox_resolve(mailbox, fresh=True)
    except ValidationError:
        return None  # the audited path below refuses it, and records the refusal


def _mark_deleted(mailbox: Mailbox) -> int:
    """Deleted, and its jobs stopped, in one transaction; the number of jobs stopped."""
    now = timezone.now()
    with transaction.atomic():
        moved = Mailbox.objects.filter(pk=mailbox.pk, status=mailbox.status).update(
            status=Status.DELETED, deleted_at=now, updated_at=now
        )
        if not moved:
            raise ValidationError(
                f"L'adresse {mailbox.address} vient de changer d'état : réessayez."
            )
        stopped = _stop_jobs(mailbox, now)
    mailbox.status, mailbox.deleted_at = Status.DELETED, now
    return stopped


def _stop_jobs(mailbox: Mailbox, now: datetime) -> int:
    """Jobs in flight fail, emails not sent yet too: their claims end, so a worker holding
    one sends nothing (every step checks its claim, and the mailbox, before the SMS)."""
    released = {"claim_token": None, "claimed_at": None, "next_attempt_at": None}
    jobs = ProvisioningJob.objects.filter(mailbox=mailbox)
    stopped = jobs.filter(state__in=[JobState.QUEUED, JobState.RUNNING]).update(
        state=JobState.FAILED, last_error=STOPPED, finished_at=now, updated_at=now, **released
    )
    stopped += jobs.filter(email_status__in=[EmailStatus.QUEUED, EmailStatus.RUNNING]).update(
        email_status=EmailStatus.FAILED, last_error=STOPPED, updated_at=now, **released
    )
    return stopped


def _deletion_detail(mailbox: Mailbox, reaching, stopped: int, erase_now: bool) -> str:
    when = "effacement immédiat demandé" if erase_now else (
        f"données effacées le {day(erasure_due_at(mailbox))}"
    )  # fmt: skip
    parts = ["connexions refusées", when]
    if stopped:
        parts.append(f"{stopped} envoi(s) arrêté(s)")
    if reaching:
        parts.append(f"alias qui y mènent : {', '.join(reaching)}")
    return " ; ".join(parts)


def _disable_a_late_row(address: str) -> None:
    """A job that claimed before the deletion may have written the row just after the check
    (its SMS never leaves: the step checks): that row is disabled too."""
    try:
        row = mailserver.user_row(address)
        if row is not None and row["active"]:
            mailserver.user_set_active(address=address, active=False)
            logger.warning("mailbox %s: row written during its deletion, disabled", address)
    except ProvisioningError:
        logger.warning("mailbox %s: row not checked again after its deletion", address)
