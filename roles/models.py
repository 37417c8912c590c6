"""DomainDelegation: a domain entrusted to a user, whose admin pages show only such domains."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DomainDelegation(models.Model):
    """One domain a gestionnaire manages. Administrators need none: they manage every domain."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="domain_delegations",
        verbose_name=_("utilisateur"),
    )
    domain = models.ForeignKey(
        "accounts.Domain",
        on_delete=models.CASCADE,
        related_name="delegations",
        verbose_name=_("domaine"),
    )
    created_at = models.DateTimeField(_("confié le"), auto_now_add=True)

    class Meta:
        verbose_name = _("domaine confié")
        verbose_name_plural = _("domaines confiés")
        ordering = ["user", "domain__name"]
        constraints = [
            models.UniqueConstraint("user", "domain", name="domain_delegation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.domain} → {self.user}"
