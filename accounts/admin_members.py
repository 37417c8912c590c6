"""The members' admin page: every change goes through member_update, which tells the member."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from audit.models import Action, Outcome
from audit.services import Actor, audit_record

from . import services as member_services
from .forms import MemberChangeForm
from .models import Member


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["full_name", "personal_email", "phone"]
    search_fields = ["full_name", "personal_email", "mailboxes__local_part"]
    form = MemberChangeForm
    fields = ["full_name", "personal_email", "phone"]

    def save_model(self, request, obj, form, change):
        """Through member_update: the member hears of a new phone or email, always."""
        data = form.cleaned_data
        try:
            result = member_services.member_update(
                member=obj,
                full_name=data["full_name"],
                personal_email=data["personal_email"],
                phone=data["phone"],
            )
        except ValidationError as exc:
            request.member_unchanged = True
            messages.error(request, " ".join(exc.messages))
            audit_member_refused(request, obj, " ".join(exc.messages))
            return
        audit_member_change(request, result)
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


# --- audit trail of member edits (who changed which contact detail, and who was told) ---

MEMBER_ACTIONS = {
    "phone": Action.PHONE_CHANGE,
    "personal_email": Action.PERSONAL_EMAIL_CHANGE,
    "full_name": Action.MEMBER_NAME_CHANGE,
}


def _member_target(member) -> str:
    addresses = [m.address for m in member.mailboxes.select_related("domain")]
    return ", ".join(addresses) or member.full_name


def audit_member_change(request, result) -> None:
    actor, target = Actor.from_request(request), _member_target(result.member)
    told = f" ; avis envoyé à {', '.join(result.notified)}" if result.notified else ""
    for name, action in MEMBER_ACTIONS.items():
        if name in result.new:
            audit_record(
                actor=actor, action=action, target=target,
                detail=f"{result.old[name]} → {result.new[name]}{told}",
            )  # fmt: skip


def audit_member_refused(request, member, reason: str) -> None:
    stored = Member.objects.get(pk=member.pk)
    for name, action in MEMBER_ACTIONS.items():
        if getattr(stored, name) != getattr(member, name):
            audit_record(
                actor=Actor.from_request(request), action=action,
                target=_member_target(stored), outcome=Outcome.REFUSED, detail=reason,
            )  # fmt: skip
