"""What members asked for (MemberRequest) and the CSV imports of whole groups (MemberImport)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from accounts.models import Domain, Mailbox
from provisioning.sms.base import mask_phone


class MemberRequest(models.Model):
    """A request from a public page; nothing happens until an administrator approves it."""

    class Kind(models.TextChoices):
        ADDRESS = "address", _("nouvelle adresse")
        PASSWORD = "password", _("mot de passe oublié")

    class Status(models.TextChoices):
        # A forgotten password as typed, until the worker looks the address up.
        RECEIVED = "received", _("reçue, adresse à vérifier")
        UNCONFIRMED = "unconfirmed", _("email à confirmer")
        PENDING = "pending", _("à traiter")
        APPROVED = "approved", _("approuvée")
        REFUSED = "refused", _("refusée")
        # A later request from the same email replaced it before it was confirmed.
        SUPERSEDED = "superseded", _("remplacée par une plus récente")

    OPEN = [Status.UNCONFIRMED, Status.PENDING]

    kind = models.CharField(_("demande"), max_length=10, choices=Kind.choices)
    status = models.CharField(
        _("statut"), max_length=12, choices=Status.choices, default=Status.UNCONFIRMED
    )
    # A new address: who asks, and what.
    full_name = models.CharField(_("nom complet"), max_length=200, blank=True)
    local_part = models.CharField(_("adresse souhaitée"), max_length=64, blank=True)
    domain = models.ForeignKey(
        Domain, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("domaine")
    )
    personal_email = models.EmailField(_("email personnel"), blank=True)
    phone = PhoneNumberField(_("GSM"), blank=True)
    message = models.TextField(_("message"), blank=True)
    # A forgotten password: the address as typed, until the worker looks it up.
    asked_address = models.TextField(_("adresse indiquée"), blank=True)
    # A forgotten password: its mailbox. A new address: the mailbox created on approval.
    mailbox = models.ForeignKey(
        Mailbox,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="member_requests",
        verbose_name=_("adresse mail"),
    )
    refusal_reason = models.TextField(_("raison du refus"), blank=True)
    last_error = models.TextField(_("dernière erreur"), blank=True)
    created_at = models.DateTimeField(_("reçue le"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("email confirmé le"), null=True, blank=True)
    decided_at = models.DateTimeField(_("traitée le"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("traitée par"),
    )
    # A forgotten password sent at once, the domain allowing it (memberrequests.selfservice);
    # `note` says so, or why the request waits for an administrator after all.
    self_service = models.BooleanField(_("sans approbation"), default=False)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("demande d'un membre")
        verbose_name_plural = _("demandes des membres")
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open request per email: a later, different one supersedes the unconfirmed
            # one (which leaves OPEN), and leaves a confirmed one alone (see services).
            models.UniqueConstraint(
                Lower("personal_email"),
                condition=Q(kind="address", status__in=["unconfirmed", "pending"]),
                name="memberrequest_one_open_address_request",
            ),
            models.UniqueConstraint(
                "mailbox",
                condition=Q(kind="password", status__in=["unconfirmed", "pending"]),
                name="memberrequest_one_open_password_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} : {self.address}"

    @property
    def address(self) -> str:
        if self.mailbox_id:
            return self.mailbox.address
        if self.kind == self.Kind.PASSWORD:
            return self.asked_address  # not looked up yet
        domain = self.domain.name if self.domain_id else settings.MAIL_DOMAIN
        return f"{self.local_part}@{domain}"

    @property
    def concerned_domain_id(self) -> int | None:
        """The domain it is about, whose gestionnaires handle it: its mailbox's, or the one
        asked for (None: the default domain, not chosen)."""
        return self.mailbox.domain_id if self.mailbox_id else self.domain_id

    @property
    def member_email(self) -> str:
        """Where the member is written to: the email they typed, or their mailbox's member's."""
        if self.kind == self.Kind.PASSWORD:
            return self.mailbox.member.personal_email if self.mailbox_id else ""
        return self.personal_email

    @property
    def member_name(self) -> str:
        if self.kind == self.Kind.PASSWORD:
            return self.mailbox.member.full_name if self.mailbox_id else ""
        return self.full_name

    @property
    def masked_phone(self) -> str:
        """The number the password will be texted to, as the member may be shown it."""
        if self.kind == self.Kind.PASSWORD:
            return self.mailbox.member.masked_phone if self.mailbox_id else ""
        return mask_phone(str(self.phone or ""))


class MemberImport(models.Model):
    """One uploaded CSV: its rows are checked and shown; created only once confirmed."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", _("à confirmer")
        CONFIRMED = "confirmed", _("confirmé")

    file_name = models.CharField(_("fichier"), max_length=255)
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, verbose_name=_("domaine"))
    encoding = models.CharField(_("encodage"), max_length=20)
    delimiter = models.CharField(_("séparateur"), max_length=1)
    ignored_columns = models.TextField(_("colonnes ignorées"), blank=True)
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.PREVIEWED
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("envoyé par"),
    )
    created_at = models.DateTimeField(_("envoyé le"), auto_now_add=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("confirmé par"),
    )
    confirmed_at = models.DateTimeField(_("confirmé le"), null=True, blank=True)

    class Meta:
        verbose_name = _("import de membres")
        verbose_name_plural = _("imports de membres")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.file_name


class MemberImportRow(models.Model):
    """One line of the file as it was written, and what became of it."""

    class Status(models.TextChoices):
        CREATE = "create", _("à créer")
        CREATED = "created", _("créée")
        EXISTS = "exists", _("existe déjà")
        ERROR = "error", _("erreur")

    member_import = models.ForeignKey(MemberImport, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(_("ligne"))
    full_name = models.TextField(_("nom"), blank=True)
    local_part = models.TextField(_("adresse"), blank=True)
    domain = models.ForeignKey(
        Domain, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("domaine")
    )
    suggested = models.BooleanField(_("adresse proposée"), default=False)
    personal_email = models.TextField(_("email personnel"), blank=True)
    phone = models.TextField(_("GSM"), blank=True)
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices)
    reason = models.TextField(_("raison"), blank=True)
    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("ligne d'import")
        verbose_name_plural = _("lignes d'import")
        ordering = ["member_import", "line"]
        indexes = [models.Index("member_import", "status", "line", name="import_row_status")]

    def __str__(self) -> str:
        return f"{self.member_import} : ligne {self.line}"

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}" if self.domain_id else self.local_part
