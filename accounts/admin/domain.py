"""The domains' page: connection settings told to members, DNS checks, the default quota."""

from django.contrib import admin, messages
from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from memberrequests import selfservice
from provisioning import quotas
from roles.admin import AdministratorsOnlyAdminMixin

from ..forms import DomainForm
from ..models import Domain
from .dns import DnsHealthAdminMixin


@admin.register(Domain)
class DomainAdmin(AdministratorsOnlyAdminMixin, DnsHealthAdminMixin, admin.ModelAdmin):
    form = DomainForm
    list_display = ["name", "imap_host", "smtp_host", "webmail_url", "cloud_url", "dns_health_link"]
    readonly_fields = ["dns_health_link"]
    # A link typed without its scheme is https (Django 6's default, without the warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["name", "contact_email"]}),
        (_("Réception (IMAP)"), {"fields": ["imap_host", "imap_port", "imap_security"]}),
        (_("Envoi (SMTP)"), {"fields": ["smtp_host", "smtp_port", "smtp_security"]}),
        (_("Liens"), {"fields": ["webmail_url", "cloud_url"]}),
        (_("DNS"), {"fields": ["mx_host", "dkim_selector", "dns_health_link"]}),
        (_("Espace"), {"fields": ["default_quota"]}),
        (_("Demandes des membres"), {"fields": ["self_service_reset"]}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        """The self-service switch goes through its use case, recorded, once the domain is
        saved; so does a new default quota (below)."""
        enabled = obj.self_service_reset
        if "self_service_reset" in form.changed_data:
            obj.self_service_reset = not enabled
        self._save_with_quota(request, obj, form, change)
        if obj.self_service_reset != enabled:
            selfservice.domain_set_self_service_reset(
                domain=obj, enabled=enabled, actor=Actor.from_request(request)
            )

    def _save_with_quota(self, request, obj, form, change):
        """A new default quota goes through its use case: recorded, and written for every
        mailbox that follows it."""
        if not change or "default_quota" not in form.changed_data:
            return super().save_model(request, obj, form, change)
        quota = obj.default_quota
        obj.default_quota = form.initial["default_quota"]
        super().save_model(request, obj, form, change)
        count = quotas.domain_set_default_quota(
            domain=obj, quota=quota, actor=Actor.from_request(request)
        )
        messages.info(
            request,
            _("Quota par défaut : %(quota)s, pour %(count)d adresse(s) sans quota propre.")
            % {"quota": quotas.describe_quota(quota), "count": count},
        )
