"""AuditRecord: one administrative act or login, written once and never changed."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    MAILBOX_CREATE = "mailbox_create", _("création d'une adresse")
    PASSWORD_RESET = "password_reset", _("nouveau mot de passe")
    MAILBOX_DISABLE = "mailbox_disable", _("désactivation")
    MAILBOX_ENABLE = "mailbox_enable", _("réactivation")
    CONFIRMATION_RESEND = "confirmation_resend", _("renvoi de l'email de confirmation")
    PHONE_CHANGE = "phone_change", _("GSM modifié")
    PERSONAL_EMAIL_CHANGE = "personal_email_change", _("email personnel modifié")
    MEMBER_NAME_CHANGE = "member_name_change", _("nom du membre modifié")
    REQUEST_APPROVE = "request_approve", _("demande de membre approuvée")
    REQUEST_REFUSE = "request_refuse", _("demande de membre refusée")
    IMPORT_CONFIRM = "import_confirm", _("import CSV confirmé")
    LOGIN = "login", _("connexion à l'administration")
    LOGIN_PASSWORD = "login_password", _("mot de passe accepté, second facteur attendu")
    LOGIN_FAILED = "login_failed", _("échec de connexion")
    LOCKOUT = "lockout", _("blocage après trop d'échecs")
    UNLOCK = "unlock", _("déblocage")
    OTP_ENROL = "otp_enrol", _("second facteur activé")
    OTP_RESET = "otp_reset", _("second facteur réinitialisé")
    OTP_BACKUP_CODES = "otp_backup_codes", _("codes de secours émis")
    ALIAS_CREATE = "alias_create", _("création d'un alias")
    ALIAS_CHANGE = "alias_change", _("alias modifié")
    ALIAS_DELETE = "alias_delete", _("suppression d'un alias")
    QUOTA_SET = "quota_set", _("quota modifié")
    API_TOKEN_CREATE = "api_token_create", _("jeton d'API créé")
    API_TOKEN_REVOKE = "api_token_revoke", _("jeton d'API révoqué")
    API_CALL = "api_call", _("appel de l'API")
    USER_GROUPS_CHANGE = "user_groups_change", _("groupes d'un utilisateur modifiés")
    USER_DOMAINS_CHANGE = "user_domains_change", _("domaines confiés modifiés")
    MAILBOX_DELETE = "mailbox_delete", _("adresse supprimée")
    MAILBOX_ERASE = "mailbox_erase", _("données d'une adresse effacées")
    MEMBER_EXPORT = "member_export", _("export des données d'un membre")
    SELF_SERVICE_RESET = "self_service_reset", _("mot de passe oublié envoyé sans approbation")
    DATA_PURGE = "data_purge", _("purge des données échues")
    SELF_SERVICE_SWITCH = "self_service_switch", _("réglage du mot de passe oublié modifié")


class Outcome(models.TextChoices):
    SUCCESS = "success", _("réussi")
    REFUSED = "refused", _("refusé")
    ERROR = "error", _("erreur")


class AuditRecord(models.Model):
    """Never holds a password or a token: callers pass what happened, not what was typed."""

    created_at = models.DateTimeField(_("quand"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("utilisateur"),
    )
    actor_label = models.CharField(_("qui"), max_length=200)
    ip = models.GenericIPAddressField(_("adresse IP"), null=True, blank=True)
    action = models.CharField(_("acte"), max_length=32, choices=Action.choices)
    target = models.CharField(_("sur quoi"), max_length=254, blank=True)
    outcome = models.CharField(_("résultat"), max_length=10, choices=Outcome.choices)
    detail = models.TextField(_("détail"), blank=True)

    class Meta:
        verbose_name = _("entrée du journal d'audit")
        verbose_name_plural = _("journal d'audit")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("An audit record is written once and never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("An audit record is never deleted one by one.")
