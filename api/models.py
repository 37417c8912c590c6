"""API tokens (stored as a SHA-256 digest, never as typed) and the answers kept for
`Idempotency-Key`."""

from django.conf import settings
from django.db import models
from django.utils import dateformat, timezone
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    MAILBOXES_READ = "mailboxes:read", _("lire les adresses et leurs envois")
    MAILBOXES_WRITE = (
        "mailboxes:write",
        _("créer des adresses, envoyer un nouveau mot de passe, désactiver, réactiver"),
    )
    ALIASES_WRITE = "aliases:write", _("lire, créer, modifier et supprimer les alias")


class ApiToken(models.Model):
    """Who calls the API: a name for the audit trail, scopes, domains, an expiry.

    DRF's `request.user` is the token itself (hence `is_authenticated`): a script is not a
    person, and the jobs it asks for have no `requested_by`.
    """

    name = models.CharField(
        _("nom"),
        max_length=100,
        unique=True,
        help_text=_("Qui s'en sert, pour le journal d'audit : « import des inscriptions »."),
    )
    prefix = models.CharField(_("début du jeton"), max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("droits"), default=list)
    domains = models.ManyToManyField(
        "accounts.Domain",
        blank=True,
        related_name="+",
        verbose_name=_("domaines"),
        help_text=_("Vide : tous les domaines."),
    )
    # Set at creation when domains were named: a token whose last domain is deleted then
    # reaches none, never all of them.
    domains_limited = models.BooleanField(default=False, editable=False)
    expires_at = models.DateTimeField(_("expire le"))
    last_used_at = models.DateTimeField(_("dernière utilisation"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("créé par"),
    )
    created_at = models.DateTimeField(_("créé le"), default=timezone.now)

    is_authenticated = True  # DRF's request.user
    is_anonymous = False

    class Meta:
        verbose_name = _("jeton d'API")
        verbose_name_plural = _("jetons d'API")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def actor_label(self) -> str:
        return f"API: {self.name}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def domain_ids(self) -> set[int]:
        """The domains a limited token reaches (prefetched by the lookup)."""
        return {domain.pk for domain in self.domains.all()}

    def reaches(self, domain_id: int) -> bool:
        return not self.domains_limited or domain_id in self.domain_ids()

    def refusal(self, now=None) -> str | None:
        """Why this token is refused now, in French; None while it is valid."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return f"Ce jeton a été révoqué le {_moment(self.revoked_at)}."
        if self.expires_at <= now:
            return f"Ce jeton a expiré le {_moment(self.expires_at)}."
        return None


def _moment(value) -> str:
    return dateformat.format(timezone.localtime(value), "d/m/Y à H:i")


class IdempotencyRecord(models.Model):
    """The first successful answer to a POST sent with an `Idempotency-Key`, replayed to its
    retries. Written in the same transaction as the act it answers: both or neither.

    The answers hold an address, a status and a job's id, never personal data or a secret.
    """

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # SHA-256 of the method, path and body
    status = models.PositiveSmallIntegerField(default=0)
    body = models.JSONField(null=True, blank=True)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("token", "key", name="one_answer_per_token_and_key"),
        ]

    def __str__(self) -> str:
        return f"{self.token_id} {self.key}"
