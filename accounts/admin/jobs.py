"""The password deliveries as the mailbox pages show them: history inline, last-SMS filter."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from provisioning import selectors
from provisioning.models import ProvisioningJob


class JobInline(admin.TabularInline):
    model = ProvisioningJob
    verbose_name_plural = _("Historique des envois")
    fields = [
        "created_at", "kind", "state", "attempts", "sms_status_label", "sms_sent_at",
        "email_status", "last_error", "requested_by",
    ]  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("requested_by")


class LastJobFilter(admin.SimpleListFilter):
    """Who never received their SMS, whose SMS failed: the questions asked of this list."""

    title = _("dernier SMS")
    parameter_name = "sms"
    CHOICES = selectors.LAST_SMS

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _condition) in self.CHOICES.items()]

    def queryset(self, request, queryset):
        if self.value() in self.CHOICES:
            return queryset.filter(self.CHOICES[self.value()][1])
        return queryset
