"""The members' admin page: every change goes through member_update, which tells the member."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from octopus_mail.trigram import IndexedSearchMixin
from roles.admin import DomainScopedAdminMixin

from .. import services as member_services
from ..forms import MemberChangeForm
from ..models import Member
from . import memberdata


@admin.register(Member)
class MemberAdmin(DomainScopedAdminMixin, IndexedSearchMixin, admin.ModelAdmin):
    domain_lookups = ("mailboxes__domain",)
    list_display = ["full_name", "personal_email", "phone"]
    search_fields = ["full_name", "personal_email", "mailboxes__local_part"]
    list_per_page = 50
    form = MemberChangeForm
    fields = ["full_name", "personal_email", "phone"]
    actions = ["export_member_data"]

    def save_model(self, request, obj, form, change):
        """Through member_update: the member hears of a new phone or email, always."""
        data = form.cleaned_data
        try:
            result = member_services.member_update(
                member=obj,
                full_name=data["full_name"],
                personal_email=data["personal_email"],
                phone=data["phone"],
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            request.member_unchanged = True
            messages.error(request, " ".join(exc.messages))
            return
        if result.notified:
            messages.info(
                request,
                _("Avis de modification envoyé à %(emails)s.")
                % {"emails": ", ".join(result.notified)},
            )

    def log_change(self, request, obj, message):
        if not getattr(request, "member_unchanged", False):
            return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        if getattr(request, "member_unchanged", False):
            return redirect(request.path)  # the page again, with the error, nothing saved
        return super().response_change(request, obj)

    def has_add_permission(self, request):
        return False  # members are created with their mailbox

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Exporter les données (JSON)"))
    def export_member_data(self, request, queryset):
        return memberdata.export_action(self, request, queryset)
