"""The mailboxes' pages: creation, SMS follow-up, actions, quota and the aliases that reach it."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from octopus_mail.trigram import IndexedSearchMixin
from provisioning import quotas, selectors, services
from provisioning.exceptions import ProvisioningError
from roles import access
from roles.admin import DomainScopedAdminMixin

from ..forms import MailboxChangeForm, MailboxCreationForm
from ..models import Mailbox, Member
from . import memberdata
from .jobs import JobInline, LastJobFilter
from .quota import NearlyFullFilter, attach_usage, usage_html

TONES = {"ok": "#1a7f37", "waiting": "#9a6700", "error": "#cf222e"}


@admin.register(Mailbox)
class MailboxAdmin(DomainScopedAdminMixin, IndexedSearchMixin, admin.ModelAdmin):
    add_form = MailboxCreationForm
    form = MailboxChangeForm
    list_display = [
        "address_display", "member_name", "status_display", "last_job_display", "usage_display",
    ]  # fmt: skip
    list_per_page = 50  # the page's cost is its rows' rendering: 50 keeps it under 100 ms
    # By the domain's id, not its name: the first page read in the order of an index
    # (mailbox_admin_order), not sorted after joining every mailbox to its job.
    ordering = ["domain_id", "local_part", "-pk"]
    list_filter = ["status", LastJobFilter, NearlyFullFilter, "domain"]
    search_fields = ["local_part", "member__full_name", "member__personal_email"]
    readonly_fields = [
        "address_display", "member_link", "status", "last_delivery", "quota_display",
        "aliases_display", "created_at", "updated_at",
    ]  # fmt: skip
    # The quota is the one field edited on the page; the actions and the button do the rest.
    fields = [*readonly_fields[:5], "quota", *readonly_fields[5:]]
    inlines = [JobInline]
    actions = [
        "reset_password", "disable", "enable", "resend_confirmation", "delete_mailboxes",
        "export_member_data",
    ]  # fmt: skip

    class Media:
        js = ["accounts/suggest_local_part.js", "accounts/mailbox_status.js"]

    def get_queryset(self, request):
        # Every join of the list here: Django skips list_select_related once a queryset
        # has one of its own.
        mailboxes = super().get_queryset(request).select_related("domain", "member")
        return selectors.with_last_job(mailboxes)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Only the quota is saved from the page: the actions and the button do the rest.
        buttons = {"show_save_and_continue": False, "show_save_and_add_another": False}
        return super().change_view(
            request, object_id, form_url, {**buttons, **(extra_context or {})}
        )

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        changelist.result_list = list(changelist.result_list)
        attach_usage(changelist.result_list)  # one query to the mail database for the page
        return changelist

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return self.fields if obj else MailboxCreationForm.Meta.fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_inlines(self, request, obj):
        return self.inlines if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: the address may never be given to someone else

    def save_model(self, request, obj, form, change):
        if change:
            return self.save_quota(request, obj, form)
        data = form.cleaned_data
        outcome = services.mailbox_create(
            local_part=data["local_part"],
            domain=data["domain"],
            full_name=data["full_name"],
            personal_email=data["personal_email"],
            phone=data["phone"],
            actor=Actor.from_request(request),
            allow_reserved=True,  # on purpose; the outcome's warning says so
        )
        mailbox = outcome.mailbox
        obj.pk, obj.member, obj.status = mailbox.pk, mailbox.member, mailbox.status
        for warning in (outcome.warning, form.personal_email_warning):
            if warning:
                messages.warning(request, warning)
        messages.info(
            request,
            _("Le mot de passe de %(address)s est en cours d'envoi par SMS au %(phone)s.")
            % {"address": mailbox.address, "phone": mailbox.member.masked_phone},
        )

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def save_quota(self, request, obj, form):
        """Through mailbox_set_quota (recorded, written by the worker), never `obj.save()`."""
        if "quota" not in form.changed_data:
            return
        stored = Mailbox.objects.select_related("domain").get(pk=obj.pk)
        mailbox = quotas.mailbox_set_quota(
            mailbox=stored, quota=form.cleaned_data["quota"], actor=Actor.from_request(request)
        )
        messages.info(
            request,
            _("Quota de %(address)s : %(quota)s.")
            % {"address": mailbox.address, "quota": quotas.describe_quota(mailbox.effective_quota)},
        )

    # --- columns ---

    @admin.display(description=_("adresse"), ordering="local_part")
    def address_display(self, obj):
        return obj.address

    @admin.display(description=_("membre"), ordering="member__full_name")
    def member_name(self, obj):
        return obj.member.full_name

    @admin.display(description=_("membre"))
    def member_link(self, obj):
        return format_html(
            '<a href="{}">{}</a> — {} — {}',
            reverse("admin:accounts_member_change", args=[obj.member_id]),
            obj.member.full_name, obj.member.personal_email, obj.member.masked_phone,
        )  # fmt: skip

    @admin.display(description=_("statut"), ordering="status")
    def status_display(self, obj):
        colours = {
            "active": "#1a7f37", "pending": "#9a6700", "disabled": "#6e7781", "deleted": "#57606a",
        }  # fmt: skip
        return format_html(
            '<strong style="color:{}">{}</strong>',
            colours.get(obj.status, "#000"),
            obj.get_status_display(),
        )

    @admin.display(description=_("dernier envoi du mot de passe"))
    def last_job_display(self, obj):
        if obj.last_job is None:
            return "—"
        tone, text, _settled = selectors.job_summary(obj.last_job)
        if tone != "error":
            return format_html('<span style="color:{}">{}</span>', TONES[tone], text)
        return format_html(
            '<strong style="color:{}">{}</strong> — <a href="{}#renvoyer">{}</a>',
            TONES[tone],
            text,
            reverse("admin:accounts_mailbox_change", args=[obj.pk]),
            _("renvoyer un nouveau mot de passe"),
        )

    @admin.display(description=_("espace utilisé"))
    def usage_display(self, obj):
        usage = getattr(obj, "quota_usage", None)
        return "—" if usage is None else usage_html(usage)

    @admin.display(description=_("espace"))
    def quota_display(self, obj):
        own = "" if obj.quota is not None else _(" (défaut du domaine)")
        limit = format_html(
            "{} {}{}", _("Limite :"), quotas.describe_quota(obj.effective_quota), own
        )
        if obj.quota_synced_version < obj.quota_version:
            limit = format_html("{} — {}", limit, _("en cours d'écriture dans la table"))
        usage = quotas.usage_of([obj.address]).get(obj.address)
        if usage is None:
            return format_html("{}<br>{}", limit, _("Usage pas encore relevé par Dovecot."))
        return format_html("{}<br>{}", usage_html(usage), limit)

    @admin.display(description=_("alias qui y mènent"))
    def aliases_display(self, obj):
        reaching = selectors.aliases_reaching(obj.address, domains=obj.viewer_domains)
        if not reaching:
            return "—"
        return format_html_join(
            mark_safe("<br>"),  # noqa: S308 - a constant
            '<a href="{}">{}</a>{}{}',
            (
                (
                    reverse("admin:accounts_alias_change", args=[alias.pk]),
                    alias.address,
                    f" (via {', '.join(via)})" if via else "",
                    "" if alias.active else " — désactivé",
                )
                for alias, via in reaching
            ),
        )

    @admin.display(description=_("dernier SMS"))
    def last_delivery(self, obj):
        job = obj.last_job  # read with the mailbox (get_queryset): no query of its own
        if job is None:
            return "—"
        tone, text, settled = selectors.job_summary(job)
        # mailbox_status.js keeps it current while the SMS is on its way.
        return format_html(
            '<strong id="sms-status" style="color:{}" data-url="{}" data-settled="{}">{}</strong>',
            TONES[tone],
            reverse("admin:accounts_mailbox_status", args=[obj.pk]),
            "yes" if settled else "",
            text,
        )

    def status_view(self, request, object_id):
        """The last delivery's state, for the mailbox page to follow without a reload."""
        mailbox = self.get_object(request, object_id)
        if mailbox is None or not self.has_view_permission(request, mailbox):
            raise Http404
        job = mailbox.last_job  # read with the mailbox, fresh: this request's own
        if job is None:
            return JsonResponse({"text": "—", "colour": TONES["waiting"], "settled": True})
        tone, text, settled = selectors.job_summary(job)
        return JsonResponse({"text": text, "colour": TONES[tone], "settled": settled})

    def get_urls(self):
        resend = path(
            "<path:object_id>/nouveau-mot-de-passe/",
            self.admin_site.admin_view(self.resend_view),
            name="accounts_mailbox_resend",
        )
        status = path(
            "<path:object_id>/statut/",
            self.admin_site.admin_view(self.status_view),
            name="accounts_mailbox_status",
        )
        available = path(
            "disponible/",
            self.admin_site.admin_view(self.available_view),
            name="accounts_mailbox_available",
        )
        return [resend, status, available, *super().get_urls()]

    def available_view(self, request):
        """Checks the address as it is typed in the creation form (suggest_local_part.js)."""
        if not self.has_add_permission(request):
            raise Http404
        domain_id = request.GET.get("domain", "")
        # Another domain than the user's reads as an unknown one: nothing to probe.
        domains = access.managed_domains(request.user)
        domain = domains.filter(pk=domain_id).first() if domain_id.isdigit() else None
        if domain is None:
            return JsonResponse({"ok": False, "message": ""})
        local_part = request.GET.get("local_part", "")
        problem = services.mailbox_address_problem(local_part=local_part, domain=domain)
        address = f"{local_part.strip().lower()}@{domain.name}"
        free = f"{address} est libre."
        if services.is_reserved(local_part):
            free = f"{address} est libre, mais c'est une adresse de rôle réservée (postmaster…)."
        return JsonResponse({"ok": problem is None, "message": problem or free})

    def resend_view(self, request, object_id):
        """The mailbox page's button: the same as the list's reset action, for one address."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        mailbox = self.get_object(request, object_id)
        if mailbox is None or not self.has_change_permission(request, mailbox):
            raise Http404
        self.reset_password(request, Mailbox.objects.filter(pk=mailbox.pk))
        return redirect("admin:accounts_mailbox_change", mailbox.pk)

    # --- actions ---

    def _each(self, request, queryset, call, done_message):
        """Call the use case for each selected mailbox (it records the act) and report."""
        actor = Actor.from_request(request)
        for mailbox in queryset.select_related("domain", "member"):
            try:
                text = call(mailbox, actor)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
            except ProvisioningError as exc:
                self.message_user(request, f"{mailbox.address} : {exc.message}", messages.ERROR)
            else:
                text = text if isinstance(text, str) else None
                self.message_user(request, text or done_message % {"address": mailbox.address})

    @admin.action(description=_("Réinitialiser le mot de passe (nouveau SMS)"))
    def reset_password(self, request, queryset):
        def reset(mailbox, actor):
            outcome = services.mailbox_password_reset(mailbox=mailbox, actor=actor)
            if outcome.merged:
                return _("%(address)s : un envoi est déjà en cours ; cette demande le rejoint.") % {
                    "address": mailbox.address
                }
            return None

        self._each(
            request, queryset, reset,
            _("%(address)s : nouveau mot de passe en cours d'envoi par SMS."),
        )  # fmt: skip

    @admin.action(description=_("Désactiver (plus de connexion possible)"))
    def disable(self, request, queryset):
        def disable(mailbox, actor):
            services.mailbox_disable(mailbox=mailbox, actor=actor)
            names = access.managed_domain_names(request.user)
            note = selectors.still_reaching_note(mailbox.address, domains=names)
            if note:
                self.message_user(request, note, messages.WARNING)

        self._each(request, queryset, disable, _("%(address)s : désactivée."))

    @admin.action(description=_("Réactiver"))
    def enable(self, request, queryset):
        self._each(
            request, queryset, lambda m, actor: services.mailbox_enable(mailbox=m, actor=actor),
            _("%(address)s : réactivée."),
        )  # fmt: skip

    @admin.action(description=_("Renvoyer l'email de confirmation"))
    def resend_confirmation(self, request, queryset):
        self._each(
            request, queryset,
            lambda m, actor: services.mailbox_confirmation_resend(mailbox=m, actor=actor),
            _("%(address)s : email de confirmation en cours d'envoi."),
        )  # fmt: skip

    @admin.action(
        description=_("Supprimer (connexions refusées, données effacées ensuite)"),
        permissions=["mailbox_delete"],
    )
    def delete_mailboxes(self, request, queryset):
        """A confirmation page first, which offers to erase the member's data at once."""
        return memberdata.delete_action(self, request, queryset)

    def has_mailbox_delete_permission(self, request):
        """Deleting a mailbox (then erasing its member's data): administrators only."""
        return access.is_administrator(request.user)

    @admin.action(description=_("Exporter les données (JSON)"))
    def export_member_data(self, request, queryset):
        members = Member.objects.filter(mailboxes__in=queryset.values("pk"))
        return memberdata.export_action(self, request, members)
