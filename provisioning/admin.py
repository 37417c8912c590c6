"""Read-only list of password deliveries: the record of what the workers did."""

from django.contrib import admin

from roles.admin import DomainScopedAdminMixin

from .models import ProvisioningJob


@admin.register(ProvisioningJob)
class ProvisioningJobAdmin(DomainScopedAdminMixin, admin.ModelAdmin):
    domain_lookups = ("mailbox__domain",)
    list_display = [
        "created_at", "mailbox", "kind", "state", "attempts", "sms_status_label", "email_status",
        "last_error",
    ]  # fmt: skip
    list_filter = ["state", "kind", "email_status"]
    list_select_related = ["mailbox__domain", "requested_by"]
    search_fields = ["mailbox__local_part", "mailbox__member__full_name", "sms_message_id"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "mailbox", "kind", "state", "attempts", "claimed_at", "next_attempt_at", "last_error",
        "sms_message_id", "sms_status", "sms_sent_at", "email_status", "email_attempts",
        "email_sent_at", "requested_by", "created_at", "updated_at", "finished_at",
    ]  # fmt: skip
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # jobs come from the mailbox actions

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
