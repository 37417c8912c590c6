"""Admin pages for staff accounts: who has a second factor, its reset, audited unlocks,
their roles (groups, entrusted domains); all for administrators only.

Imported once the admin site exists (OctopusAdminConfig.ready): the modules of
django.contrib.auth and django-axes register their own pages when imported.
"""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, Outcome
from audit.services import Actor, audit_record, audit_unlocks
from roles import access
from roles.admin import AdministratorsOnlyAdminMixin, StaffRolesAdminMixin, administrators_only

from . import otp


class OctopusUserAdmin(AdministratorsOnlyAdminMixin, StaffRolesAdminMixin, UserAdmin):
    """Django's user admin, plus the second factor (who has one, its reset) and the domains
    entrusted to a gestionnaire."""

    actions = ["reset_second_factor"]
    list_display = [*UserAdmin.list_display, "second_factor"]

    def get_queryset(self, request):
        confirmed = {"user": OuterRef("pk"), "confirmed": True}
        return (
            super()
            .get_queryset(request)
            .annotate(
                has_totp=Exists(TOTPDevice.objects.filter(**confirmed)),
                has_static=Exists(StaticDevice.objects.filter(**confirmed)),
            )
        )

    @admin.display(description=_("second facteur"), boolean=True)
    def second_factor(self, obj):
        return obj.has_totp or obj.has_static

    def has_reset_second_factor_permission(self, request):
        return access.is_administrator(request.user)

    @admin.action(
        description=_("Réinitialiser le second facteur (nouvel enrôlement)"),
        permissions=["reset_second_factor"],
    )
    def reset_second_factor(self, request, queryset):
        actor = Actor.from_request(request)
        for user in queryset:
            try:
                count = otp.otp_devices_reset(user=user, by=request.user)
            except ValidationError as exc:
                text = " ".join(exc.messages)
                self.message_user(request, text, messages.WARNING)
                audit_record(
                    actor=actor, action=Action.OTP_RESET, target=user.get_username(),
                    outcome=Outcome.REFUSED, detail=text,
                )  # fmt: skip
                continue
            audit_record(
                actor=actor, action=Action.OTP_RESET, target=user.get_username(),
                detail=f"{count} appareil(s) supprimé(s) ; nouvel enrôlement à la connexion",
            )  # fmt: skip
            self.message_user(
                request,
                _("%(username)s : second facteur réinitialisé ; un nouvel appareil sera "
                  "demandé à sa prochaine connexion.") % {"username": user.get_username()},
            )  # fmt: skip


class UnlockAuditedAccessAttemptAdmin(AdministratorsOnlyAdminMixin, AccessAttemptAdmin):
    """django-axes' failed attempts; deleting one lifts a lockout, and the trail says who."""

    def delete_model(self, request, obj):
        self._record_unlock(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        self._record_unlock(request, list(queryset))
        super().delete_queryset(request, queryset)

    def _record_unlock(self, request, attempts):
        audit_unlocks(attempts=attempts, actor=Actor.from_request(request))


def register_security_admins(site) -> None:
    """After autodiscovery: our user admin, audited unlocks, and no device admin pages.

    django-otp's own device pages would show any user's TOTP secret (as a QR code) and
    backup codes to every superuser; devices are enrolled by their owner and reset here.
    """
    User = get_user_model()
    for model in (User, TOTPDevice, StaticDevice, AccessAttempt):
        if site.is_registered(model):
            site.unregister(model)
    site.register(User, OctopusUserAdmin)
    site.register(AccessAttempt, UnlockAuditedAccessAttemptAdmin)
    for model in (Group, AccessLog, AccessFailureLog):  # their apps' own pages
        if site.is_registered(model):
            model_admin = type(site.get_model_admin(model))
            site.unregister(model)
            site.register(model, administrators_only(model_admin))
