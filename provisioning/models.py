"""ProvisioningJob: the record of one password delivery, moved only by conditional updates."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Case, Exists, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobState(models.TextChoices):
    QUEUED = "queued", _("en attente")
    RUNNING = "running", _("en cours")
    DONE = "done", _("SMS envoyé")
    FAILED = "failed", _("échec")


class EmailStatus(models.TextChoices):
    WAITING = "waiting", _("après le SMS")
    QUEUED = "queued", _("en attente")
    RUNNING = "running", _("en cours d'envoi")
    DONE = "sent", _("envoyé")
    FAILED = "failed", _("échec")


# What the SMS provider reported, in the administrator's words.
SMS_STATUS_LABELS = {
    "queued": _("en file d'attente chez l'opérateur"),
    "accepted": _("accepté par l'opérateur"),
    "scheduled": _("programmé chez l'opérateur"),
    "sending": _("en cours d'envoi"),
    "sent": _("envoyé"),
    "delivered": _("remis"),
    "read": _("lu"),
    "undelivered": _("non remis"),
    "failed": _("échec de l'envoi"),
    "canceled": _("annulé"),
}
# How far a message got: a status callback only ever moves it forward (delivered never
# becomes sent again, whatever order Twilio's callbacks arrive in).
SMS_STATUS_RANK = {
    "": -1, "accepted": 0, "scheduled": 0, "queued": 0, "sending": 1, "sent": 2,
    "delivered": 3, "read": 4, "undelivered": 3, "failed": 3, "canceled": 3,
}  # fmt: skip
SMS_FINAL = {"delivered", "read", "undelivered", "failed", "canceled"}
SMS_NOT_DELIVERED = {"undelivered", "failed", "canceled"}
SMS_DELIVERED = {"delivered", "read"}
KNOWN_SMS_STATUSES = frozenset(SMS_STATUS_RANK) - {""}


class Redaction(models.TextChoices):
    NONE = "", _("—")
    PENDING = "pending", _("à effacer")
    DONE = "done", _("effacé chez l'opérateur")
    FAILED = "failed", _("effacement impossible")


# Seconds a retry's message may come early (clocks, the broker's ETA): it still claims.
RETRY_CLOCK_TOLERANCE = 1


@dataclass(frozen=True)
class Step:
    """The columns one step of a job moves: the password delivery, or the email after it.

    Both steps share the claim columns: the email step only starts once the password step
    is done, so they never hold a claim at the same time.
    """

    name: str
    status: str
    attempts: str
    queued: str
    running: str
    done: str
    failed: str


PASSWORD_STEP = Step(
    "password", "state", "attempts",
    JobState.QUEUED, JobState.RUNNING, JobState.DONE, JobState.FAILED,
)  # fmt: skip
EMAIL_STEP = Step(
    "email", "email_status", "email_attempts",
    EmailStatus.QUEUED, EmailStatus.RUNNING, EmailStatus.DONE, EmailStatus.FAILED,
)  # fmt: skip


# The claim on PostgreSQL, written out: it runs for every doorbell, and the ORM took ~2 ms of
# CPU to build it. `ARRAY(...)` runs the subquery once: a plain IN subquery may run again for
# each row, and rows this statement already updated no longer lock, so LIMIT would not hold.
_PG_CLAIM = """UPDATE {table} SET {status} = %(running)s, {attempts} = {attempts} + 1,
    claimed_at = %(now)s, claim_token = %(token)s, updated_at = %(now)s
WHERE {status} = %(queued)s AND (next_attempt_at IS NULL OR next_attempt_at <= %(due)s)
    AND id = ANY(ARRAY(
        SELECT id FROM {table}
        WHERE {status} = %(queued)s AND (next_attempt_at IS NULL OR next_attempt_at <= %(due)s)
            AND EXISTS (SELECT 1 FROM {table} WHERE id = %(pk)s AND {status} = %(queued)s
                AND (next_attempt_at IS NULL OR next_attempt_at <= %(due)s))
        ORDER BY id <> %(pk)s, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED))"""


class JobQuerySet(models.QuerySet):
    def in_flight(self):
        return self.filter(state__in=[JobState.QUEUED, JobState.RUNNING])

    def claim(self, pk: int, step: Step):
        """Compare-and-set queued → running; the job with its token, or None if not ours."""
        jobs = self.claim_batch(pk, step, limit=1)
        return jobs[0] if jobs else None

    def claim_batch(self, pk: int, step: Step, *, limit: int) -> list:
        """Job `pk` and up to `limit - 1` other due jobs of the step, claimed in one
        compare-and-set statement with one token; [] when `pk` itself is not claimable
        (done, another worker's, or not due): a duplicate doorbell claims nothing.

        SKIP LOCKED: two workers claiming at once take different jobs. Each claimed job
        keeps its own claimed_at, so a batch whose worker died is swept back job by job.
        A job waiting out a retry's backoff is not due, whatever message rings: after a
        timeout the first SMS may still be on its way, and a new password sent meanwhile
        could arrive before it (invariant 2).
        """
        now = timezone.now()
        token = uuid.uuid4()
        due = now + timedelta(seconds=RETRY_CLOCK_TOLERANCE)
        connection = connections[self.db]
        if connection.vendor == "postgresql":
            sql = _PG_CLAIM.format(
                table=self.model._meta.db_table, status=step.status, attempts=step.attempts
            )
            params = {"running": str(step.running), "queued": str(step.queued), "now": now,
                      "due": due, "token": token, "pk": pk, "limit": max(1, limit)}  # fmt: skip
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                updated = cursor.rowcount
        else:
            updated = self._claim_orm(pk, step, limit, now=now, due=due, token=token)
        if not updated:
            return []
        jobs = self.select_related("mailbox__domain", "mailbox__member").filter(claim_token=token)
        return sorted(jobs, key=lambda job: (job.pk != pk, job.pk))

    def _claim_orm(self, pk: int, step: Step, limit: int, *, now, due, token) -> int:
        """The same claim by the ORM (SQLite; MySQL cannot update a table it reads)."""
        claimable = self.filter(
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=due),
            **{step.status: step.queued},
        )
        chosen = (
            claimable.filter(Exists(claimable.filter(pk=pk)))
            .order_by(Case(When(pk=pk, then=Value(0)), default=Value(1)), "pk")
            .select_for_update(skip_locked=True)
            .values("pk")[: max(1, limit)]
        )
        with transaction.atomic(using=self.db):
            if not connections[self.db].features.update_can_self_select:
                chosen = list(chosen)
            return claimable.filter(pk__in=chosen).update(
                **{step.status: step.running, step.attempts: F(step.attempts) + 1},
                claimed_at=now,
                claim_token=token,
                updated_at=now,
            )

    def _owned(self, job, step: Step):
        return self.filter(pk=job.pk, claim_token=job.claim_token, **{step.status: step.running})

    def claims_held(self, jobs, step: Step) -> dict:
        """{pk: its mailbox's status} for the jobs whose claim is still theirs: one query."""
        tokens = {job.pk: job.claim_token for job in jobs}
        rows = self.filter(
            pk__in=tokens, claim_token__in=set(tokens.values()), **{step.status: step.running}
        ).values_list("pk", "claim_token", "mailbox__status")
        return {pk: status for pk, token, status in rows if tokens[pk] == token}

    def release(self, job, step: Step, *, error: str, next_attempt_at: datetime) -> bool:
        """Back to queued after a transient failure; the retry or the sweep picks it up.

        `retrying_since` keeps the first failure of the step: it gives up on time, not count.
        """
        now = timezone.now()
        return bool(
            self._owned(job, step).update(
                **{step.status: step.queued},
                claim_token=None,
                claimed_at=None,
                next_attempt_at=next_attempt_at,
                retrying_since=Coalesce(F("retrying_since"), Value(now)),
                last_error=error,
                updated_at=now,
            )
        )

    def fail(self, job, step: Step, *, error: str, **fields) -> bool:
        return bool(
            self._owned(job, step).update(
                **{step.status: step.failed},
                claim_token=None,
                last_error=error,
                updated_at=timezone.now(),
                **fields,
            )
        )

    def finish(self, job, step: Step, **fields) -> bool:
        now = timezone.now()
        return bool(
            self._owned(job, step).update(
                **{step.status: step.done},
                claim_token=None,
                claimed_at=None,
                next_attempt_at=None,
                retrying_since=None,
                last_error="",
                updated_at=now,
                **fields,
            )
        )

    def finish_batch(self, jobs, step: Step, *, each: dict | None = None, **fields) -> set:
        """`finish` for many jobs in one statement, each on its own claim; `each` maps a
        field to {pk: value}. The pks finished (a job whose claim was lost stays as it is)."""
        now = timezone.now()
        pks, tokens = {job.pk for job in jobs}, {job.claim_token for job in jobs}
        for name, values in (each or {}).items():
            fields[name] = Case(*(When(pk=pk, then=Value(v)) for pk, v in values.items()))
        # A token is one claim's: pk and token in these sets is each job on its own claim.
        owned = self.filter(pk__in=pks, claim_token__in=tokens, **{step.status: step.running})
        count = owned.update(
            **{step.status: step.done}, claim_token=None, claimed_at=None, next_attempt_at=None,
            retrying_since=None, last_error="", updated_at=now, **fields,
        )  # fmt: skip
        if count == len(pks):
            return pks
        return set(self.filter(pk__in=pks, updated_at=now, **{step.status: step.done})
                   .values_list("pk", flat=True))  # fmt: skip

    def record_sms_status(self, *, message_sid: str, status: str, error_code, at) -> int | None:
        """Move the job's SMS status forward only; the job's id when it moved, else None."""
        rank = SMS_STATUS_RANK[status]
        behind = [known for known, known_rank in SMS_STATUS_RANK.items() if known_rank < rank]
        jobs = self.filter(sms_message_id=message_sid, sms_status__in=behind)
        pk = jobs.values_list("pk", flat=True).first()
        fields = {"sms_status": status, "sms_error_code": error_code, "sms_status_at": at}
        if status in SMS_FINAL:
            fields["sms_redaction"] = Redaction.PENDING
        if pk is None or not jobs.filter(pk=pk).update(**fields, updated_at=timezone.now()):
            return None
        return pk

    def requeue_email(self, pk: int) -> bool:
        """Send the email step again (admin's "renvoyer"), unless it is already on its way."""
        return bool(
            self.filter(pk=pk, state=JobState.DONE)
            .exclude(email_status__in=[EmailStatus.QUEUED, EmailStatus.RUNNING])
            .update(
                email_status=EmailStatus.QUEUED,
                email_attempts=0,
                next_attempt_at=None,
                retrying_since=None,
                updated_at=timezone.now(),
            )
        )

    @staticmethod
    def _lost(step: Step, now: datetime) -> Q:
        """Queued with no doorbell for a while, or claimed by a worker that went quiet."""
        grace = now - timedelta(seconds=settings.PROVISIONING_QUEUED_GRACE)
        stale = now - timedelta(seconds=settings.PROVISIONING_CLAIM_TIMEOUT)
        waiting = Q(next_attempt_at__lt=grace) | Q(
            next_attempt_at__isnull=True, updated_at__lt=grace
        )
        return Q(**{step.status: step.queued}) & waiting | Q(
            **{step.status: step.running, "claimed_at__lt": stale}
        )

    def lost(self, step: Step, *, now: datetime):
        return self.filter(self._lost(step, now))

    def requeue_lost(self, pk: int, step: Step, *, now: datetime) -> bool:
        """Back to queued, due again only after another grace period: one doorbell a period."""
        return bool(
            self.filter(self._lost(step, now), pk=pk).update(
                **{step.status: step.queued},
                claim_token=None,
                claimed_at=None,
                next_attempt_at=now,
                updated_at=now,
            )
        )


class SmsStatusEvent(models.Model):
    """A signed status callback, kept so that one arriving before the send was recorded
    is applied once the job knows its message id."""

    message_sid = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20)
    error_code = models.PositiveIntegerField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("statut de SMS reçu")
        verbose_name_plural = _("statuts de SMS reçus")
        constraints = [
            models.UniqueConstraint("message_sid", "status", name="one_event_per_sid_status")
        ]

    def __str__(self) -> str:
        return f"{self.message_sid} {self.status}"


class ProvisioningJob(models.Model):
    class Kind(models.TextChoices):
        CREATE = "create", _("création")
        RESET = "reset", _("nouveau mot de passe")

    mailbox = models.ForeignKey(
        "accounts.Mailbox",
        on_delete=models.PROTECT,
        related_name="jobs",
        verbose_name=_("adresse"),
    )
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    state = models.CharField(
        _("état"), max_length=10, choices=JobState.choices, default=JobState.QUEUED
    )
    attempts = models.PositiveIntegerField(_("tentatives"), default=0)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_at = models.DateTimeField(_("pris en charge le"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("prochain essai"), null=True, blank=True)
    retrying_since = models.DateTimeField(_("en échec depuis"), null=True, blank=True)
    last_error = models.TextField(_("dernière erreur"), blank=True)
    sms_message_id = models.CharField(_("identifiant du SMS"), max_length=64, blank=True)
    sms_status = models.CharField(_("statut du SMS"), max_length=20, blank=True)
    sms_sent_at = models.DateTimeField(_("SMS envoyé le"), null=True, blank=True)
    sms_status_at = models.DateTimeField(_("statut du SMS reçu le"), null=True, blank=True)
    sms_error_code = models.PositiveIntegerField(_("code d'erreur du SMS"), null=True, blank=True)
    sms_redaction = models.CharField(
        _("texte du SMS chez l'opérateur"),
        max_length=10,
        choices=Redaction.choices,
        default=Redaction.NONE,
        blank=True,
    )
    email_status = models.CharField(
        _("email"), max_length=10, choices=EmailStatus.choices, default=EmailStatus.WAITING
    )
    email_attempts = models.PositiveIntegerField(_("tentatives d'email"), default=0)
    email_sent_at = models.DateTimeField(_("email envoyé le"), null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("demandé par"),
    )
    created_at = models.DateTimeField(_("demandé le"), default=timezone.now)
    updated_at = models.DateTimeField(_("mis à jour le"), default=timezone.now)
    finished_at = models.DateTimeField(_("terminé le"), null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        verbose_name = _("envoi de mot de passe")
        verbose_name_plural = _("envois de mots de passe")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # Invariant 3: at most one delivery in flight per mailbox.
            models.UniqueConstraint(
                "mailbox",
                condition=Q(state__in=["queued", "running"]),
                name="one_job_in_flight_per_mailbox",
            ),
        ]
        indexes = [
            # A mailbox's latest job: the list's columns and filters, the index's counts.
            models.Index(
                "mailbox", F("created_at").desc(), F("id").desc(), name="job_latest_per_mailbox"
            ),
            # The jobs' list, newest first: its first page without sorting every job.
            models.Index(F("created_at").desc(), F("id").desc(), name="job_newest_first"),
            models.Index(fields=["state", "updated_at"], name="job_state_updated"),
            models.Index(fields=["email_status", "updated_at"], name="job_email_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} n°{self.pk} ({self.get_state_display()})"

    def _sms_status_label(self) -> str:
        return SMS_STATUS_LABELS.get(self.sms_status, self.sms_status or "—")

    _sms_status_label.short_description = _("statut du SMS")  # the admin's column title
    sms_status_label = property(_sms_status_label)
