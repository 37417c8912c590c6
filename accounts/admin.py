"""Admin for domains, members and mailboxes: actions call services and report in French."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from provisioning import selectors, services
from provisioning.exceptions import ProvisioningError
from provisioning.models import ProvisioningJob

from .admin_dns import DnsHealthAdminMixin
from .admin_members import MemberAdmin  # noqa: F401 - registers the members' page
from .forms import MailboxCreationForm
from .models import Domain, Mailbox

TONES = {"ok": "#1a7f37", "waiting": "#9a6700", "error": "#cf222e"}


@admin.register(Domain)
class DomainAdmin(DnsHealthAdminMixin, admin.ModelAdmin):
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
    ]

    def has_delete_permission(self, request, obj=None):
        return False


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


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    add_form = MailboxCreationForm
    list_display = ["address_display", "member_name", "status_display", "last_job_display"]
    list_select_related = ["domain", "member"]
    list_filter = ["status", LastJobFilter, "domain"]
    search_fields = ["local_part", "member__full_name", "member__personal_email"]
    readonly_fields = [
        "address_display", "member_link", "status", "last_delivery", "created_at", "updated_at",
    ]  # fmt: skip
    fields = readonly_fields
    inlines = [JobInline]
    actions = ["reset_password", "disable", "enable", "resend_confirmation"]

    class Media:
        js = ["accounts/suggest_local_part.js", "accounts/mailbox_status.js"]

    def get_queryset(self, request):
        return selectors.with_last_job(super().get_queryset(request))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Nothing on the page is edited by hand: the actions and the button change it.
        read_only = {"show_save": False, "show_save_and_continue": False,
                     "show_save_and_add_another": False}  # fmt: skip
        return super().change_view(
            request, object_id, form_url, {**read_only, **(extra_context or {})}
        )

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        default = Domain.objects.filter(name=settings.MAIL_DOMAIN).first()
        if default is not None:
            initial.setdefault("domain", default.pk)
        return initial

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
            return super().save_model(request, obj, form, change)
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
        colours = {"active": "#1a7f37", "pending": "#9a6700", "disabled": "#6e7781"}
        return format_html(
            '<strong style="color:{}">{}</strong>',
            colours.get(obj.status, "#000"),
            obj.get_status_display(),
        )

    @admin.display(description=_("dernier envoi du mot de passe"))
    def last_job_display(self, obj):
        state = getattr(obj, "last_job_state", None)
        if state is None:
            return "—"
        tone, text = selectors.delivery_summary(
            state=state,
            sms_status=obj.last_sms_status,
            sent_at=obj.last_sms_sent_at,
            status_at=obj.last_sms_status_at,
            error_code=obj.last_sms_error_code,
            last_error=obj.last_job_error,
        )
        if tone != "error":
            return format_html('<span style="color:{}">{}</span>', TONES[tone], text)
        return format_html(
            '<strong style="color:{}">{}</strong> — <a href="{}#renvoyer">{}</a>',
            TONES[tone],
            text,
            reverse("admin:accounts_mailbox_change", args=[obj.pk]),
            _("renvoyer un nouveau mot de passe"),
        )

    @admin.display(description=_("dernier SMS"))
    def last_delivery(self, obj):
        job = selectors.last_job(obj)
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
        if mailbox is None:
            raise Http404
        job = selectors.last_job(mailbox)
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
        domain = Domain.objects.filter(pk=request.GET.get("domain") or None).first()
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
        self._each(
            request, queryset, lambda m, actor: services.mailbox_disable(mailbox=m, actor=actor),
            _("%(address)s : désactivée."),
        )  # fmt: skip

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
