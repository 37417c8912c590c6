"""Admin for domains, members and mailboxes: actions call services and report in French."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from provisioning import deliveries, services
from provisioning.exceptions import ProvisioningError
from provisioning.models import SMS_DELIVERED, SMS_NOT_DELIVERED, JobState, ProvisioningJob

from .forms import MailboxCreationForm
from .models import Domain, Mailbox, Member

TONES = {"ok": "#1a7f37", "waiting": "#9a6700", "error": "#cf222e"}


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["name", "imap_host", "smtp_host", "webmail_url", "cloud_url"]
    fieldsets = [
        (None, {"fields": ["name", "contact_email"]}),
        (_("Réception (IMAP)"), {"fields": ["imap_host", "imap_port", "imap_security"]}),
        (_("Envoi (SMTP)"), {"fields": ["smtp_host", "smtp_port", "smtp_security"]}),
        (_("Liens"), {"fields": ["webmail_url", "cloud_url"]}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["full_name", "personal_email", "phone"]
    search_fields = ["full_name", "personal_email", "mailboxes__local_part"]

    def has_add_permission(self, request):
        return False  # members are created with their mailbox

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
    CHOICES = {
        "delivered": (_("remis"), Q(last_sms_status__in=SMS_DELIVERED)),
        "not_delivered": (_("non remis"), Q(last_sms_status__in=SMS_NOT_DELIVERED)),
        "unconfirmed": (
            _("envoyé, sans accusé de réception"),
            Q(last_job_state=JobState.DONE)
            & ~Q(last_sms_status__in=[*SMS_NOT_DELIVERED, *SMS_DELIVERED]),
        ),
        "failed": (_("échec de l'envoi"), Q(last_job_state=JobState.FAILED)),
        "in_flight": (
            _("en attente ou en cours"),
            Q(last_job_state__in=[JobState.QUEUED, JobState.RUNNING]),
        ),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _q) in self.CHOICES.items()]

    def queryset(self, request, queryset):
        if self.value() in self.CHOICES:
            return queryset.filter(self.CHOICES[self.value()][1])
        return queryset


def _latest_job(field: str):
    jobs = ProvisioningJob.objects.filter(mailbox=OuterRef("pk")).order_by("-created_at", "-pk")
    return Subquery(jobs.values(field)[:1])


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
        js = ["accounts/suggest_local_part.js"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_job_state=_latest_job("state"),
                last_sms_status=_latest_job("sms_status"),
                last_sms_sent_at=_latest_job("sms_sent_at"),
                last_sms_status_at=_latest_job("sms_status_at"),
                last_sms_error_code=_latest_job("sms_error_code"),
                last_job_error=_latest_job("last_error"),
            )
        )

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
        job = services.mailbox_create(
            local_part=data["local_part"],
            domain=data["domain"],
            full_name=data["full_name"],
            personal_email=data["personal_email"],
            phone=data["phone"],
            requested_by=request.user,
        )
        obj.pk, obj.member = job.mailbox.pk, job.mailbox.member
        obj.status = job.mailbox.status
        if job.adopted_row:
            messages.warning(
                request, services.ADOPTED_ROW_WARNING.format(address=job.mailbox.address)
            )
        messages.info(
            request,
            _("Le mot de passe de %(address)s est en cours d'envoi par SMS au %(phone)s.")
            % {"address": job.mailbox.address, "phone": job.mailbox.member.masked_phone},
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
        tone, text = deliveries.delivery_summary(
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
        job = obj.jobs.order_by("-created_at", "-pk").first()
        if job is None:
            return "—"
        tone, text = deliveries.delivery_summary(
            state=job.state,
            sms_status=job.sms_status,
            sent_at=job.sms_sent_at,
            status_at=job.sms_status_at,
            error_code=job.sms_error_code,
            last_error=job.last_error,
        )
        return format_html('<strong style="color:{}">{}</strong>', TONES[tone], text)

    def get_urls(self):
        resend = path(
            "<path:object_id>/nouveau-mot-de-passe/",
            self.admin_site.admin_view(self.resend_view),
            name="accounts_mailbox_resend",
        )
        return [resend, *super().get_urls()]

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
        for mailbox in queryset.select_related("domain", "member"):
            try:
                outcome = call(mailbox)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
            except ProvisioningError as exc:
                self.message_user(request, f"{mailbox.address} : {exc.message}", messages.ERROR)
            else:
                text = outcome if isinstance(outcome, str) else None
                self.message_user(request, text or done_message % {"address": mailbox.address})

    @admin.action(description=_("Réinitialiser le mot de passe (nouveau SMS)"))
    def reset_password(self, request, queryset):
        def reset(mailbox):
            outcome = services.mailbox_password_reset(mailbox=mailbox, requested_by=request.user)
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
            request, queryset, lambda m: services.mailbox_disable(mailbox=m),
            _("%(address)s : désactivée."),
        )  # fmt: skip

    @admin.action(description=_("Réactiver"))
    def enable(self, request, queryset):
        self._each(
            request, queryset, lambda m: services.mailbox_enable(mailbox=m),
            _("%(address)s : réactivée."),
        )  # fmt: skip

    @admin.action(description=_("Renvoyer l'email de confirmation"))
    def resend_confirmation(self, request, queryset):
        self._each(
            request, queryset, lambda m: services.mailbox_confirmation_resend(mailbox=m),
            _("%(address)s : email de confirmation en cours d'envoi."),
        )  # fmt: skip
