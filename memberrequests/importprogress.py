"""Where a confirmed import stands: the rows, the mailboxes created, their SMS and emails.

`member_import_progress` is the one count that `importmembers` prints and the import's
admin page shows (at load time, then live from its JSON view): one aggregate query
whatever the import's size. `member_import_report_live` adds the page's French texts and
the failures, each with the member and the reason.
"""

from dataclasses import asdict, dataclass

from django.db.models import Count, FilteredRelation, Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext_lazy

from provisioning.models import (
    SMS_DELIVERED,
    SMS_FINAL,
    SMS_NOT_DELIVERED,
    EmailStatus,
    JobState,
    ProvisioningJob,
)
from provisioning.selectors import delivery_summary

from .models import MemberImport, MemberImportRow

RowStatus = MemberImportRow.Status
FAILURES_SHOWN = 50
# The creation job of a row's mailbox (a later reset is the mailbox page's business).
_JOB = "mailbox__jobs__"
_CREATE = Q(**{_JOB + "kind": ProvisioningJob.Kind.CREATE})
_DONE = Q(**{_JOB + "state": JobState.DONE})
_JOB_COUNTS = {
    "sms_waiting": Q(**{_JOB + "state__in": [JobState.QUEUED, JobState.RUNNING]}),
    "sms_sent": _DONE & ~Q(**{_JOB + "sms_status__in": SMS_FINAL}),
    "sms_delivered": _DONE & Q(**{_JOB + "sms_status__in": SMS_DELIVERED}),
    "sms_failed": Q(**{_JOB + "state": JobState.FAILED})
    | _DONE & Q(**{_JOB + "sms_status__in": SMS_NOT_DELIVERED}),
    "emails_sent": Q(**{_JOB + "email_status": EmailStatus.DONE}),
    "emails_failed": Q(**{_JOB + "email_status": EmailStatus.FAILED}),
    "emails_waiting": Q(**{_JOB + "email_status__in": [EmailStatus.QUEUED, EmailStatus.RUNNING]}),
}


def _failed_job(prefix: str = "") -> Q:
    """What goes on the failures' list: no SMS, an SMS not delivered, or no email."""
    return (
        Q(**{prefix + "state": JobState.FAILED})
        | Q(**{prefix + "state": JobState.DONE, prefix + "sms_status__in": SMS_NOT_DELIVERED})
        | Q(**{prefix + "email_status": EmailStatus.FAILED})
    )


_JOB_COUNTS["failures"] = _failed_job(_JOB)


@dataclass(frozen=True)
class ImportProgress:
    """Counts of one import. The SMS counts split the created mailboxes: waiting (queued or
    running), sent (accepted, receipt awaited), delivered, failed (refused or not delivered)."""

    rows: int = 0
    to_create: int = 0
    created: int = 0
    exists: int = 0
    errors: int = 0
    sms_waiting: int = 0
    sms_sent: int = 0
    sms_delivered: int = 0
    sms_failed: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    emails_waiting: int = 0
    failures: int = 0  # creations whose SMS or email went wrong

    @property
    def jobs(self) -> int:
        return self.sms_waiting + self.sms_sent + self.sms_delivered + self.sms_failed

    @property
    def sms_out(self) -> int:
        """SMS that left: accepted by the operator, delivered or not since."""
        return self.sms_sent + self.sms_delivered

    @property
    def jobs_settled(self) -> bool:
        """No SMS left to send: what `importmembers` waits for."""
        return not self.sms_waiting

    @property
    def settled(self) -> bool:
        """Nothing more will change: no SMS, receipt or email on its way (the page stops)."""
        return not (self.sms_waiting or self.sms_sent or self.emails_waiting)


def member_import_progress(*, member_import: MemberImport) -> ImportProgress:
    """The counts of `member_import`, in one aggregate query (rows joined to their mailbox's
    creation job), whatever its size."""
    created = Q(status=RowStatus.CREATED) & _CREATE
    counts = member_import.rows.aggregate(
        rows=Count("pk", distinct=True),
        **{
            name: Count("pk", filter=Q(status=status), distinct=True)
            for name, status in [
                ("to_create", RowStatus.CREATE),
                ("created", RowStatus.CREATED),
                ("exists", RowStatus.EXISTS),
                ("errors", RowStatus.ERROR),
            ]
        },
        **{name: Count(_JOB + "pk", filter=created & q) for name, q in _JOB_COUNTS.items()},
    )
    return ImportProgress(**counts)


@dataclass(frozen=True)
class Failure:
    line: int
    member: str
    address: str
    reason: str


def member_import_failures(
    *, member_import: MemberImport, limit: int = FAILURES_SHOWN
) -> list[Failure]:
    """The first `limit` creations that went wrong, by line: who, and why (French). One
    query, walking this import's rows in line order (never every job of the database)."""
    job = FilteredRelation("mailbox__jobs", condition=_CREATE)
    rows = (
        member_import.rows.annotate(job=job)
        .filter(_failed_job("job__"), status=RowStatus.CREATED)
        .order_by("line")
        .values("line", "mailbox__local_part", "mailbox__domain__name",
                "mailbox__member__full_name", *(f"job__{field}" for field in _JOB_FIELDS))
    )  # fmt: skip
    return [
        Failure(
            line=row["line"],
            member=row["mailbox__member__full_name"],
            address=f"{row['mailbox__local_part']}@{row['mailbox__domain__name']}",
            reason=_reason(**{field: row[f"job__{field}"] for field in _JOB_FIELDS}),
        )
        for row in rows[:limit]
    ]


_JOB_FIELDS = ["state", "sms_status", "sms_sent_at", "sms_status_at", "sms_error_code",
               "last_error", "email_status"]  # fmt: skip


def _reason(*, state, sms_status, sms_sent_at, sms_status_at, sms_error_code, last_error,
            email_status) -> str:  # fmt: skip
    """The SMS's failure as the mailbox page words it, then the email's, if either."""
    reasons = []
    if state == JobState.FAILED or sms_status in SMS_NOT_DELIVERED:
        _tone, text = delivery_summary(
            state=state, sms_status=sms_status, sent_at=sms_sent_at, status_at=sms_status_at,
            error_code=sms_error_code, last_error=last_error,
        )  # fmt: skip
        reasons.append(text)
    if email_status == EmailStatus.FAILED:
        reasons.append(_("Email non envoyé : %(error)s") % {"error": last_error})
    return " ; ".join(reasons)


# Tones of the counters and of the bar's parts; the page says each in words as well.
TONES = {"ok": "#1a7f37", "sent": "#0969da", "waiting": "#9a6700", "error": "#cf222e",
         "neutral": "#57606a"}  # fmt: skip
# (count, tone, French text, shown when zero)
COUNTERS = [
    ("rows", "neutral", ngettext_lazy("%(n)d ligne", "%(n)d lignes", "n"), True),
    ("created", "neutral", ngettext_lazy("%(n)d adresse créée", "%(n)d adresses créées", "n"),
     True),
    ("exists", "neutral", ngettext_lazy("%(n)d existait déjà", "%(n)d existaient déjà", "n"),
     False),
    ("errors", "error", ngettext_lazy("%(n)d ligne en erreur", "%(n)d lignes en erreur", "n"),
     False),
    ("sms_delivered", "ok", ngettext_lazy("%(n)d SMS remis", "%(n)d SMS remis", "n"), True),
    ("sms_sent", "sent", ngettext_lazy("%(n)d SMS envoyé, accusé de réception attendu",
                                       "%(n)d SMS envoyés, accusé de réception attendu", "n"),
     True),
    ("sms_failed", "error", ngettext_lazy("%(n)d SMS en échec", "%(n)d SMS en échec", "n"),
     True),
    ("sms_waiting", "waiting", ngettext_lazy("%(n)d SMS en attente", "%(n)d SMS en attente",
                                             "n"), True),
    ("emails_sent", "ok", ngettext_lazy("%(n)d email envoyé", "%(n)d emails envoyés", "n"),
     True),
    ("emails_failed", "error", ngettext_lazy("%(n)d email en échec", "%(n)d emails en échec",
                                             "n"), False),
]  # fmt: skip
BAR = ["sms_delivered", "sms_sent", "sms_failed", "sms_waiting"]


def _counters(progress: ImportProgress) -> list[dict]:
    """Each counter with its tone and its words; the optional ones only when not zero."""
    counters = []
    for key, tone, text, always in COUNTERS:
        n = getattr(progress, key)
        if always or n:
            counters.append(
                {
                    "key": key,
                    "tone": tone,
                    "colour": TONES[tone],
                    "count": n,
                    "text": text % {"n": n},
                }
            )
    return counters


def _bar(progress: ImportProgress) -> list[dict]:
    """The SMS of the created mailboxes, as parts of a bar (percent of the whole)."""
    total = max(progress.jobs, 1)
    tones = {key: tone for key, tone, *_rest in COUNTERS}
    return [
        {"key": key, "colour": TONES[tones[key]],
         "percent": round(100 * getattr(progress, key) / total, 2)}
        for key in BAR
    ]  # fmt: skip


def _summary(p: ImportProgress) -> str:
    if p.to_create:
        return _("Import à confirmer : rien n'est encore créé.")
    if p.sms_waiting:
        return _("Envoi en cours : %(done)d SMS sur %(total)d traités, %(waiting)d en attente.") % {
            "done": p.jobs - p.sms_waiting,
            "total": p.jobs,
            "waiting": p.sms_waiting,
        }
    if not p.settled:
        return _(
            "Plus aucun SMS en attente ; encore attendus : %(receipts)d accusé(s) de réception, "
            "%(emails)d email(s)."
        ) % {"receipts": p.sms_sent, "emails": p.emails_waiting}
    return _(
        "Terminé : %(delivered)d SMS remis, %(failed)d en échec ; %(emails)d emails envoyés."
    ) % {"delivered": p.sms_delivered, "failed": p.sms_failed, "emails": p.emails_sent}


def member_import_report_live(*, member_import: MemberImport) -> dict:
    """What the import's page shows of its progress, at load time and as JSON: two queries."""
    progress = member_import_progress(member_import=member_import)
    failures = member_import_failures(member_import=member_import, limit=FAILURES_SHOWN)
    more = max(progress.failures - len(failures), 0)
    return {
        "settled": progress.settled,
        "summary": _summary(progress),
        "counts": {**asdict(progress), "jobs": progress.jobs},
        "counters": _counters(progress),
        "bar": _bar(progress),
        "failures": [{**asdict(failure), "text": _failure_text(failure)} for failure in failures],
        "more_failures": more,
        "more_failures_text": _(
            "… et %(count)d autre(s) : voyez le rapport (CSV) ou la liste des adresses."
        )
        % {"count": more},
    }


def _failure_text(failure: Failure) -> str:
    return _("Ligne %(line)d : %(member)s (%(address)s) — %(reason)s") % asdict(failure)
