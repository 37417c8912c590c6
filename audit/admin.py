"""The audit trail in the admin: to read and filter, never to add, change or delete."""

from django.contrib import admin

from roles.admin import AdministratorsOnlyAdminMixin

from .models import AuditRecord


@admin.register(AuditRecord)
class AuditRecordAdmin(AdministratorsOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "actor_label", "ip", "action", "target", "outcome", "detail"]
    list_filter = ["action", "outcome", "created_at", "actor_label"]
    search_fields = ["target", "actor_label", "ip", "detail"]
    date_hierarchy = "created_at"
    fields = ["created_at", "actor_label", "actor", "ip", "action", "target", "outcome", "detail"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
