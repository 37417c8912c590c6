"""Domains, members, mailboxes and aliases: who has which address, and what they were told."""

from django.db import models
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from phonenumber_field.modelfields import PhoneNumberField

from provisioning.sms.base import mask_phone

from .validators import validate_local_part, validate_mobile_phone


class Security(models.TextChoices):
    SSL_TLS = "ssl", _("SSL/TLS")
    STARTTLS = "starttls", _("STARTTLS")


class Domain(models.Model):
    """A mail domain, with the settings its members are told in the confirmation email."""

    name = models.CharField(_("domaine"), max_length=253, unique=True)
    imap_host = models.CharField(_("serveur IMAP"), max_length=253)
    imap_port = models.PositiveIntegerField(_("port IMAP"), default=993)
    imap_security = models.CharField(
        _("sécurité IMAP"), max_length=10, choices=Security.choices, default=Security.SSL_TLS
    )
    smtp_host = models.CharField(_("serveur SMTP"), max_length=253)
    smtp_port = models.PositiveIntegerField(_("port SMTP"), default=465)
    smtp_security = models.CharField(
        _("sécurité SMTP"), max_length=10, choices=Security.choices, default=Security.SSL_TLS
    )
    webmail_url = models.URLField(_("webmail (Roundcube)"), blank=True)
    cloud_url = models.URLField(_("cloud (Nextcloud)"), blank=True)
    contact_email = models.EmailField(
        _("contact de l'administrateur"),
        blank=True,
        help_text=_("Adresse indiquée aux membres qui ont une question."),
    )
    mx_host = models.CharField(
        _("serveur MX"),
        max_length=253,
        blank=True,
        help_text=_("Le serveur qui reçoit le courrier d'Internet ; vide : le serveur SMTP."),
    )
    dkim_selector = models.CharField(
        _("sélecteur DKIM"),
        max_length=63,
        blank=True,
        help_text=_("Par exemple mail pour mail._domainkey ; sert au contrôle du DNS."),
    )
    default_quota = models.PositiveBigIntegerField(
        _("quota par défaut"),
        default=0,
        help_text=_(
            "L'espace de chaque adresse du domaine, sauf exception : 500M, 2G ; 0 : sans limite."
        ),
    )
    self_service_reset = models.BooleanField(
        _("mot de passe oublié sans approbation"),
        default=False,
        help_text=_(
            "Coché : une demande de nouveau mot de passe confirmée depuis l'email personnel "
            "connu part sans attendre votre approbation (toujours vers le GSM connu)."
        ),
    )

    class Meta:
        verbose_name = _("domaine")
        verbose_name_plural = _("domaines")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def mail_host(self) -> str:
        """The host named by the MX: the receiving server, the SMTP server unless told."""
        return (self.mx_host or self.smtp_host).strip().rstrip(".").lower()


class Member(models.Model):
    """A person of the association: the mailbox's owner, reached by SMS and personal email."""

    full_name = models.CharField(_("nom complet"), max_length=200)
    personal_email = models.EmailField(_("email personnel"))
    phone = PhoneNumberField(
        _("GSM"),
        validators=[validate_mobile_phone],
        help_text=_("Numéro de GSM, par exemple +32 470 12 34 56."),
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)
    # Set when the last of the member's mailboxes is erased: name, phone and personal email
    # are gone (provisioning.erasure), the row stays for the jobs and mailboxes that name it.
    erased_at = models.DateTimeField(
        _("données effacées le"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("membre")
        verbose_name_plural = _("membres")
        ordering = ["full_name"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def masked_phone(self) -> str:
        """`+32 4•• •• •• 12`: enough for the member to recognise their number."""
        return mask_phone(str(self.phone or ""))


class Mailbox(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("en préparation")
        ACTIVE = "active", pgettext_lazy("mailbox status", "active")
        DISABLED = "disabled", _("désactivée")
        # Logins refused, erased after MEMBER_RETENTION_DAYS; the row stays so that the
        # address is never given to someone else.
        DELETED = "deleted", _("supprimée")

    local_part = models.CharField(
        _("nom d'utilisateur"),
        max_length=64,
        validators=[validate_local_part],
        help_text=_(
            "La partie avant le @, en minuscules : pierre pour pierre@octopus-soignies.be."
        ),
    )
    domain = models.ForeignKey(
        Domain, on_delete=models.PROTECT, related_name="mailboxes", verbose_name=_("domaine")
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="mailboxes", verbose_name=_("membre")
    )
    status = models.CharField(
        _("statut"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    quota = models.PositiveBigIntegerField(
        _("quota"),
        null=True,
        blank=True,
        help_text=_("En octets ; vide : le quota par défaut du domaine ; 0 : sans limite."),
    )
    # The quota's copy in the mail table (provisioning.mailsync): `quota_version` counts the
    # changes, `quota_synced_version` is the last one written there.
    quota_version = models.PositiveIntegerField(default=0, editable=False)
    quota_synced_version = models.PositiveIntegerField(default=0, editable=False)
    quota_sync_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("créée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)
    deleted_at = models.DateTimeField(_("supprimée le"), null=True, blank=True, editable=False)
    erased_at = models.DateTimeField(_("effacée le"), null=True, blank=True, editable=False)
    # The newest delivery, set in the transaction that creates it (provisioning.services
    # `_job_queue`): the lists, their filters and the index's counts read it by one join.
    last_job = models.ForeignKey(
        "provisioning.ProvisioningJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("dernier envoi"),
    )

    class Meta:
        verbose_name = _("adresse mail")
        verbose_name_plural = _("adresses mail")
        ordering = ["domain__name", "local_part"]
        constraints = [
            models.UniqueConstraint(Lower("local_part"), "domain", name="mailbox_unique_address"),
        ]
        indexes = [
            # The admin's list in its order (MailboxAdmin.ordering): its first page at once.
            models.Index("domain", "local_part", F("id").desc(), name="mailbox_admin_order"),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"

    @property
    def effective_quota(self) -> int:
        """Bytes Dovecot allows this mailbox (0: no limit): its own quota, or its domain's."""
        return self.domain.default_quota if self.quota is None else self.quota


class Alias(models.Model):
    """A shared address (bureau@, info@) that reaches mailboxes of ours or outside addresses.

    The app's row is the record; the worker copies it to the mail table (provisioning.mailsync).
    `version` counts the changes, `synced_version` is the last one written there; a deleted
    alias stays, marked `deleted`, until its rows are gone from the mail table.
    """

    domain = models.ForeignKey(
        Domain, on_delete=models.PROTECT, related_name="aliases", verbose_name=_("domaine")
    )
    local_part = models.CharField(
        _("alias"),
        max_length=64,
        validators=[validate_local_part],
        help_text=_(
            "La partie avant le @, en minuscules : bureau pour bureau@octopus-soignies.be."
        ),
    )
    active = models.BooleanField(
        _("actif"), default=True, help_text=_("Décoché : le courrier pour cet alias est refusé.")
    )
    deleted = models.BooleanField(_("suppression en cours"), default=False, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    synced_version = models.PositiveIntegerField(default=0, editable=False)
    sync_requested_at = models.DateTimeField(default=timezone.now, editable=False)
    sync_error = models.TextField(_("erreur d'écriture"), blank=True, editable=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("alias")
        verbose_name_plural = _("alias et listes")
        ordering = ["domain__name", "local_part"]
        constraints = [
            models.UniqueConstraint(Lower("local_part"), "domain", name="alias_unique_address"),
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain.name}"

    @property
    def synced(self) -> bool:
        return self.synced_version >= self.version


class AliasDestination(models.Model):
    """Where an alias's mail goes: a full address, a mailbox or alias of ours or outside."""

    alias = models.ForeignKey(
        Alias, on_delete=models.CASCADE, related_name="destinations", verbose_name=_("alias")
    )
    address = models.CharField(_("destination"), max_length=254, db_index=True)
    external = models.BooleanField(_("extérieure"), default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("destination")
        verbose_name_plural = _("destinations")
        ordering = ["alias", "position"]
        constraints = [
            models.UniqueConstraint("alias", "address", name="alias_destination_unique"),
        ]

    def __str__(self) -> str:
        return self.address


class DnsLevel(models.TextChoices):
    OK = "ok", _("correct")
    WARNING = "warning", _("avertissement")
    ERROR = "error", _("erreur")


class DnsCheckState(models.Model):
    """The last conclusive result of one DNS check of a domain; the daily alert compares to it."""

    domain = models.ForeignKey(
        Domain, on_delete=models.CASCADE, related_name="dns_states", verbose_name=_("domaine")
    )
    check_name = models.CharField(_("contrôle"), max_length=40)
    level = models.CharField(_("état"), max_length=10, choices=DnsLevel.choices)
    message = models.TextField(_("explication"), blank=True)
    checked_at = models.DateTimeField(_("vérifié le"))
    changed_at = models.DateTimeField(_("changé le"))

    class Meta:
        verbose_name = _("état d'un contrôle DNS")
        verbose_name_plural = _("états des contrôles DNS")
        ordering = ["domain", "check_name"]
        constraints = [
            models.UniqueConstraint("domain", "check_name", name="dns_check_state_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.domain} {self.check_name} : {self.get_level_display()}"
