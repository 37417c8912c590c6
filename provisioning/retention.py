"""What is kept, and for how long (invariant 7): `data_purge` erases what is past its delay.

The command `purgedata [--dry-run]` and the daily beat task `provisioning.purge_data` call it.
Each category has its own setting, in days: a thing is erased once it is exactly that old,
never a day before. Deleted mailboxes are erased by provisioning.erasure after
MEMBER_RETENTION_DAYS; the rest here:

- members' requests never confirmed (unconfirmed, received, superseded): deleted after
  RETENTION_UNCONFIRMED_REQUESTS_DAYS from their arrival;
- requests approved or refused: deleted after RETENTION_HANDLED_REQUESTS_DAYS from the
  decision (the audit trail keeps the act); pending ones wait for the administrator;
- CSV imports: after RETENTION_IMPORTS_DAYS, a confirmed import's lines lose the name,
  personal email, phone and reason typed (line, address, status and mailbox stay); an import
  never confirmed is deleted with its lines;
- django-axes' failed logins, lockout counters and login logs (usernames and IPs): deleted
  after RETENTION_ACCESS_LOGS_DAYS;
- Twilio's status callbacks (SmsStatusEvent): deleted after RETENTION_SMS_EVENTS_DAYS;
- a finished job's last error (it may quote a phone number or an email): blanked after
  RETENTION_JOB_ERRORS_DAYS from the job's end; the job itself stays.

The audit trail is kept: it holds acts, never personal data. The purge records its own act,
with counts only.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import Action
from audit.services import Actor, audited
from memberrequests.models import MemberImport, MemberImportRow, MemberRequest

from . import erasure
from .models import EmailStatus, JobState, ProvisioningJob, SmsStatusEvent

logger = logging.getLogger(__name__)
RequestStatus = MemberRequest.Status
ERASED_MAILBOXES = "erased_mailboxes"
ERASURES_FAILED = "erasures_failed"


def _delete(queryset: QuerySet) -> int:
    """Rows of the queryset's own model deleted (not the rows that cascade with them)."""
    _total, per_model = queryset.delete()
    return per_model.get(queryset.model._meta.label, 0)


@dataclass(frozen=True)
class Category:
    key: str
    label: str  # French: a line of purgedata, a clause of the audit record
    setting: str  # its delay, in days
    due: Callable[[datetime], list[QuerySet]]  # what is past the cutoff
    erase: Callable[[QuerySet], int] = _delete

    @property
    def days(self) -> int:
        return getattr(settings, self.setting)

    def cutoff(self, now: datetime) -> datetime:
        """Written at or before it: due (exactly `days` old is due, a second less is not)."""
        return now - timedelta(days=self.days)


# --- What each category holds past its cutoff ---------------------------------------------


def _unconfirmed_requests(cutoff: datetime) -> list[QuerySet]:
    never_confirmed = [RequestStatus.UNCONFIRMED, RequestStatus.RECEIVED, RequestStatus.SUPERSEDED]
    return [MemberRequest.objects.filter(status__in=never_confirmed, created_at__lte=cutoff)]


def _handled_requests(cutoff: datetime) -> list[QuerySet]:
    decided = Q(decided_at__lte=cutoff) | Q(decided_at__isnull=True, created_at__lte=cutoff)
    handled = [RequestStatus.APPROVED, RequestStatus.REFUSED]
    return [MemberRequest.objects.filter(decided, status__in=handled)]


def _import_rows(cutoff: datetime) -> list[QuerySet]:
    """Lines of old imports that still hold something typed about a person."""
    holding = ~Q(full_name="") | ~Q(personal_email="") | ~Q(phone="") | ~Q(reason="")
    return [MemberImportRow.objects.filter(holding, member_import__created_at__lte=cutoff)]


def _erase_import_rows(rows: QuerySet) -> int:
    """An import never confirmed goes with its lines (it could no longer be confirmed
    without them); a confirmed one's lines keep what says what became of them."""
    count = rows.count()
    never_confirmed = MemberImport.objects.filter(
        status=MemberImport.Status.PREVIEWED, pk__in=rows.values("member_import")
    )
    never_confirmed.delete()
    rows.update(full_name="", personal_email="", phone="", reason="")
    return count


def _access_logs(cutoff: datetime) -> list[QuerySet]:
    return [
        model.objects.filter(attempt_time__lte=cutoff)
        for model in (AccessAttempt, AccessFailureLog, AccessLog)
    ]


def _sms_events(cutoff: datetime) -> list[QuerySet]:
    return [SmsStatusEvent.objects.filter(received_at__lte=cutoff)]


def _job_errors(cutoff: datetime) -> list[QuerySet]:
    """Finished: the password step done or failed, and no email step still on its way."""
    ended = Q(finished_at__lte=cutoff) | Q(finished_at__isnull=True, updated_at__lte=cutoff)
    finished = (
        ProvisioningJob.objects.filter(state__in=[JobState.DONE, JobState.FAILED])
        .exclude(email_status__in=[EmailStatus.QUEUED, EmailStatus.RUNNING])
        .exclude(last_error="")
    )
    return [finished.filter(ended)]


def _blank_job_errors(jobs: QuerySet) -> int:
    return jobs.update(last_error="")  # updated_at kept: the job's history does not change


CATEGORIES = (
    Category(
        "unconfirmed_requests",
        "demandes jamais confirmées",
        "RETENTION_UNCONFIRMED_REQUESTS_DAYS",
        _unconfirmed_requests,
    ),
    Category(
        "handled_requests",
        "demandes approuvées ou refusées",
        "RETENTION_HANDLED_REQUESTS_DAYS",
        _handled_requests,
    ),
    Category(
        "import_rows",
        "lignes d'import (nom, email, GSM)",
        "RETENTION_IMPORTS_DAYS",
        _import_rows,
        _erase_import_rows,
    ),
    Category(
        "access_logs",
        "traces de connexion (échecs, blocages, connexions)",
        "RETENTION_ACCESS_LOGS_DAYS",
        _access_logs,
    ),
    Category("sms_events", "statuts de SMS reçus", "RETENTION_SMS_EVENTS_DAYS", _sms_events),
    Category(
        "job_errors",
        "messages d'erreur des envois terminés",
        "RETENTION_JOB_ERRORS_DAYS",
        _job_errors,
        _blank_job_errors,
    ),
)


# --- The use case ----------------------------------------------------------------------------


def data_purge(
    *, now: datetime | None = None, actor: Actor, dry_run: bool = False
) -> dict[str, int]:
    """Erase everything past its retention delay at `now` (default: the clock); with
    `dry_run`, only count it and write nothing (not even the audit record).

    The counts by key: ERASED_MAILBOXES and ERASURES_FAILED (deleted mailboxes, erased or
    left for the next run because the mail database did not answer), then each category's.
    """
    now = now or timezone.now()
    if dry_run:
        counts = {ERASED_MAILBOXES: erasure.mailboxes_due_for_erasure(now=now).count()}
        counts[ERASURES_FAILED] = 0
        for category in CATEGORIES:
            due = category.due(category.cutoff(now))
            counts[category.key] = sum(queryset.count() for queryset in due)
        return counts
    with audited(Action.DATA_PURGE, actor=actor, target="données échues") as act:
        counts = _purge(now, actor)
        act.detail = describe(counts)
    logger.info("data purge: %s", counts)
    return counts


def _purge(now: datetime, actor: Actor) -> dict[str, int]:
    # The mail database is written first, each mailbox in its own transaction; a failure
    # is reported and tried again by the next run.
    report = erasure.mailboxes_erase_due(now=now, actor=actor)
    counts = {ERASED_MAILBOXES: len(report.erased), ERASURES_FAILED: len(report.failed)}
    with transaction.atomic():
        for category in CATEGORIES:
            due = category.due(category.cutoff(now))
            counts[category.key] = sum(category.erase(queryset) for queryset in due)
    return counts


def lines(counts: dict[str, int]) -> list[str]:
    """One French line per category, with its delay: what purgedata prints."""
    result = [
        f"Adresses supprimées dont les données sont effacées (après "
        f"{settings.MEMBER_RETENTION_DAYS} jours) : {counts[ERASED_MAILBOXES]}"
    ]
    for category in CATEGORIES:
        label = category.label[0].upper() + category.label[1:]
        result.append(f"{label} (après {category.days} jours) : {counts[category.key]}")
    return result


def describe(counts: dict[str, int]) -> str:
    """The audit record's detail: counts only, nothing about anyone."""
    parts = [f"adresses effacées : {counts[ERASED_MAILBOXES]}"]
    if counts[ERASURES_FAILED]:
        parts.append(f"effacements à refaire : {counts[ERASURES_FAILED]}")
    parts += [f"{category.label} : {counts[category.key]}" for category in CATEGORIES]
    return " ; ".join(parts)
