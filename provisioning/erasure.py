"""Erasing a deleted mailbox and what is held of its member (invariant 7).

A mailbox is deleted first (provisioning.deletion: logins refused at once, its address kept
so that it is never given to someone else). `mailbox_erase` removes the mail table's row
and the aliases' destinations to it, and erases the member's name, phone and personal
email, their requests, and what the jobs, the SMS callbacks and the audit trail held of
them; the audit keeps the acts. `mailboxes_erase_due` erases every deleted mailbox past
MEMBER_RETENTION_DAYS (the daily purge calls it). The mailbox's files belong to the mail
host: `erased_maildirs` lists them for its job.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import dateformat, timezone

from accounts.models import Alias, AliasDestination, Mailbox, Member
from audit.models import Action, AuditRecord
from audit.services import Actor, audit_record, audited
from memberrequests.services import member_requests_erase

from . import mailconfig, mailserver, services, tasks
from .exceptions import ProvisioningError
from .models import ProvisioningJob, SmsStatusEvent

logger = logging.getLogger(__name__)
Status = Mailbox.Status

ERASED_NAME = "membre effacé"
ERASED = "[effacé]"  # what replaces a personal value in the audit trail and job errors
# Their details held the former values (`+32470… → +32471…`) before they were left out.
MEMBER_CHANGES = (Action.PHONE_CHANGE, Action.PERSONAL_EMAIL_CHANGE, Action.MEMBER_NAME_CHANGE)
ERASED_DETAIL = "détail effacé avec les données du membre"


@dataclass(frozen=True)
class EraseOutcome:
    mailbox: Mailbox
    row_removed: bool  # False: the mail table no longer had it (never written, or retried)
    aliases_changed: tuple[str, ...]  # aliases that lost it as a destination
    aliases_deleted: tuple[str, ...]  # aliases left with no destination, deleted
    member_erased: bool  # False while another mailbox of the member is not erased yet
    audit_scrubbed: int = 0  # audit records that held the member's data, now without it


@dataclass
class ErasureReport:
    """What `mailboxes_erase_due` did: erased addresses, and those it must try again."""

    erased: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, French reason)


# --- Reads ---------------------------------------------------------------------------------


def erasure_due_at(mailbox: Mailbox) -> datetime | None:
    if mailbox.deleted_at is None or mailbox.erased_at is not None:
        return None
    return mailbox.deleted_at + timedelta(days=settings.MEMBER_RETENTION_DAYS)


def mailboxes_due_for_erasure(*, now: datetime | None = None):
    """Deleted mailboxes whose retention delay has passed, oldest first (for a dry run too)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.MEMBER_RETENTION_DAYS)
    return (
        Mailbox.objects.filter(status=Status.DELETED, erased_at__isnull=True)
        .filter(deleted_at__lte=cutoff)
        .select_related("domain", "member")
        .order_by("deleted_at", "pk")
    )


def erased_maildirs(*, since: datetime) -> list[str]:
    """`domain/user/` of each mailbox erased since then, for the mail host to remove."""
    erased = (
        Mailbox.objects.filter(status=Status.DELETED, erased_at__gte=since)
        .select_related("domain")
        .order_by("erased_at", "pk")
    )
    maildirs = []
    for mailbox in erased:
        maildir = mailconfig.maildir_of(mailbox.address)
        if maildir is None:
            logger.error("maildir of %s left out: not a safe path", mailbox.pk)
            continue
        maildirs.append(maildir)
    return maildirs


def day(moment: datetime) -> str:
    """`04/12/2026`: a date as the administrator reads it."""
    return dateformat.format(timezone.localtime(moment), "d/m/Y")


# --- Erasing -------------------------------------------------------------------------------


def mailboxes_erase_due(*, now: datetime | None = None, actor: Actor) -> ErasureReport:
    """Erase every deleted mailbox past MEMBER_RETENTION_DAYS at `now` (default: the clock).

    Each erasure records its act; one that fails (mail database away) is reported and found
    again by the next run.
    """
    report = ErasureReport()
    for mailbox in mailboxes_due_for_erasure(now=now):
        try:
            mailbox_erase(mailbox=mailbox, actor=actor)
        except ValidationError as exc:  # erased meanwhile by another run
            logger.info("mailbox %s not erased: %s", mailbox.pk, " ".join(exc.messages))
        except ProvisioningError as exc:
            report.failed.append((mailbox.address, exc.message))
        else:
            report.erased.append(mailbox.address)
    return report


def mailbox_erase(*, mailbox: Mailbox | str, actor: Actor) -> EraseOutcome:
    """Erase a deleted mailbox now: its mail table row, the aliases' destinations to it, and
    its member's personal data (unless another of their mailboxes is not erased yet).

    Raises ValidationError (not deleted, already erased) or ProvisioningError (the mail
    database: nothing is erased in the app, and a new attempt starts over).
    """
    with audited(Action.MAILBOX_ERASE, actor=actor, target=services.mailbox_target(mailbox)) as act:
        mailbox = services.mailbox_resolve(mailbox, fresh=True)
        if mailbox.status != Status.DELETED:
            raise ValidationError(
                f"L'adresse {mailbox.address} n'est pas supprimée : supprimez-la d'abord."
            )
        if mailbox.erased_at is not None:
            raise ValidationError(
                f"Les données de {mailbox.address} sont déjà effacées "
                f"(le {day(mailbox.erased_at)})."
            )
        row_removed = mailserver.user_delete(address=mailbox.address)
        with transaction.atomic():
            outcome = _erase(mailbox, actor, row_removed)
        act.detail = _erasure_detail(outcome)
    logger.info("mailbox %s erased", mailbox.address)
    return outcome


def _erase(mailbox: Mailbox, actor: Actor, row_removed: bool) -> EraseOutcome:
    now = timezone.now()
    erased = Mailbox.objects.filter(pk=mailbox.pk, status=Status.DELETED, erased_at__isnull=True)
    if not erased.update(erased_at=now, updated_at=now):
        raise ValidationError(f"Les données de {mailbox.address} viennent d'être effacées.")
    mailbox.erased_at = now
    changed, deleted = _remove_from_aliases(mailbox.address, actor)
    member = Member.objects.select_for_update().get(pk=mailbox.member_id)
    member_requests_erase(mailbox=mailbox, personal_email=member.personal_email)
    jobs = ProvisioningJob.objects.filter(mailbox=mailbox).exclude(sms_message_id="")
    SmsStatusEvent.objects.filter(message_sid__in=jobs.values("sms_message_id")).delete()
    others = member.mailboxes.exclude(pk=mailbox.pk).filter(erased_at__isnull=True)
    member_erased = not others.exists()
    scrubbed = _erase_member(member, now) if member_erased else 0
    return EraseOutcome(
        mailbox, row_removed, tuple(changed), tuple(deleted), member_erased, scrubbed
    )


def _erase_member(member: Member, now: datetime) -> int:
    """Name, phone and personal email gone from the member, their jobs' errors and the
    audit trail; the member's row stays (its mailboxes and jobs name it). The number of
    audit records that held them."""
    contacts = _personal([member.personal_email, str(member.phone or "")])
    name = member.full_name
    addresses = [m.address for m in member.mailboxes.select_related("domain")]
    Member.objects.filter(pk=member.pk).update(
        full_name=ERASED_NAME, personal_email="", phone="", erased_at=now, updated_at=now
    )
    jobs = ProvisioningJob.objects.filter(mailbox__member=member)
    for value in _personal([name, *contacts]):
        for job in jobs.filter(last_error__contains=value).only("pk", "last_error"):
            jobs.filter(pk=job.pk).update(last_error=job.last_error.replace(value, ERASED))
    return _scrub_audit(name=name, contacts=contacts, addresses=addresses)


def _personal(values) -> list[str]:
    """The values to look for, longest first (a name may hold a shorter one); none empty."""
    return sorted({value.strip() for value in values if value and value.strip()}, key=len)[::-1]


def _scrub_audit(*, name: str, contacts: list[str], addresses: list[str]) -> int:
    """Take the member's personal data out of the audit records that hold it: the name from
    the records about their addresses (the creation said « membre … »), the phone and the
    personal email from any record; a change of their name, phone or email keeps the act.

    AuditRecord refuses save() and delete(): they guard the act (who, what, when, outcome)
    against being rewritten one record at a time, from the admin or the ORM. This is a
    queryset update instead, because invariant 7 requires it: it replaces only personal
    values inside `detail` and `target`, never an act or its actor, and is itself recorded
    (the erasure's record says how many entries it touched).
    """
    holding = Q(pk__in=[])
    for value in contacts:
        holding |= Q(detail__contains=value) | Q(target__contains=value)
    touched = 0
    records = AuditRecord.objects.filter(about(addresses) | holding)
    for pk, action, target, detail in records.values_list("pk", "action", "target", "detail"):
        new_detail, new_target, values = detail, target, contacts
        if set(target.split(", ")) & set(addresses):
            values = _personal([name, *contacts])
            new_detail = ERASED_DETAIL if action in MEMBER_CHANGES else detail
        for value in values:
            new_detail = new_detail.replace(value, ERASED)
            new_target = new_target.replace(value, ERASED)
        if (new_detail, new_target) != (detail, target):
            touched += AuditRecord.objects.filter(pk=pk).update(
                detail=new_detail, target=new_target
            )
    return touched


def about(addresses: list[str]) -> Q:
    """Audit records on these addresses: one of them is the target, or in its list (a
    member's change names all their addresses, `a@…, b@…`)."""
    condition = Q(pk__in=[])
    for address in addresses:
        condition |= (
            Q(target=address) | Q(target__startswith=f"{address}, ")
            | Q(target__endswith=f", {address}") | Q(target__contains=f", {address}, ")
        )  # fmt: skip
    return condition


def _remove_from_aliases(address: str, actor: Actor) -> tuple[list[str], list[str]]:
    """Take `address` out of every alias; an alias left with no destination is deleted (it
    could be neither written nor enabled again, and its address is free for the next holder
    of the role), and taken out of the aliases that lead to it in turn. Each change is
    recorded, and copied to the mail table by the worker (provisioning.mailsync)."""
    changed, deleted, gone = [], [], [address]
    while gone:
        target = gone.pop(0)
        aliases = Alias.objects.filter(deleted=False, destinations__address=target).distinct()
        for alias in aliases.select_related("domain").order_by("pk"):
            AliasDestination.objects.filter(alias=alias, address=target).delete()
            empty = not alias.destinations.exists()
            _bump(alias, deleted=empty)
            if empty:
                deleted.append(alias.address)
                gone.append(alias.address)
                detail = f"plus aucune destination : {target} retirée (adresse effacée)"
            else:
                changed.append(alias.address)
                detail = f"{target} retirée des destinations (adresse effacée)"
            action = Action.ALIAS_DELETE if empty else Action.ALIAS_CHANGE
            audit_record(actor=actor, action=action, target=alias.address, detail=detail)
    return [a for a in changed if a not in deleted], deleted


def _bump(alias: Alias, *, deleted: bool) -> None:
    """A new version for the worker to write (or remove) in the mail table, on commit."""
    now = timezone.now()
    Alias.objects.filter(pk=alias.pk).update(
        deleted=deleted, version=F("version") + 1, sync_requested_at=now, updated_at=now
    )
    tasks.sync_alias.ring_on_commit(alias.pk)


def _erasure_detail(outcome: EraseOutcome) -> str:
    row = (
        "ligne du serveur mail supprimée" if outcome.row_removed else "aucune ligne au serveur mail"
    )
    parts = [row]
    if outcome.aliases_changed:
        parts.append(f"retirée des alias {', '.join(outcome.aliases_changed)}")
    if outcome.aliases_deleted:
        parts.append(f"alias supprimés faute de destination : {', '.join(outcome.aliases_deleted)}")
    parts.append(
        "nom, GSM et email personnel du membre effacés"
        if outcome.member_erased
        else "données du membre gardées pour son autre adresse"
    )
    if outcome.audit_scrubbed:
        parts.append(f"{outcome.audit_scrubbed} entrée(s) du journal expurgée(s)")
    return " ; ".join(parts)
