"""Read-only list of password deliveries: the record of what the workers did."""

from django.contrib import admin

from octopus_mail.trigram import IndexedSearchMixin
from roles.admin import DomainScopedAdminMixin

from .models import ProvisioningJob


@admin.register(ProvisioningJob)
class ProvisioningJobAdmin(DomainScopedAdminMixin, IndexedSearchMixin, admin.ModelAdmin):
    domain_lookups = ("mailbox__domain",)
    list_display = [
        "created_at", "mailbox", "kind", "state", "attempts", "sms_status_label", "email_status",
        "last_error",
    ]  # fmt: skip
    # A filter by date, not a date_hierarchy: that one lists the years of every job (a read
    # of the whole table on each page); these choices (today, 7 days, month, year) cost none.
    list_filter = ["state", "kind", "email_status", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["mailbox__domain", "requested_by"]
    search_fields = ["mailbox__local_part", "mailbox__member__full_name", "sms_message_id"]
    list_per_page = 50
    show_full_result_count = False  # a count of every job on each page: not worth its cost
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
