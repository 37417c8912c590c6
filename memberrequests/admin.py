"""The queue of members' requests (approve, refuse with a reason) and the CSV imports
(upload, preview, confirm). Actions call services and report per request, in French."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from accounts.models import Mailbox
from audit.services import Actor
from octopus_mail.trigram import IndexedSearchMixin
from provisioning.exceptions import ProvisioningError
from roles import access
from roles.admin import DomainScopedAdminMixin
from roles.forms import limit_domain_choices

from . import importprogress, imports, services
from .forms import ImportUploadForm, RefuseForm
from .models import MemberImport, MemberImportRow, MemberRequest

Status = MemberRequest.Status
RowStatus = MemberImportRow.Status
MAILBOX_PERMISSIONS = ["accounts.add_mailbox", "accounts.change_mailbox"]
PREVIEW_PAGE_SIZE = 200
RED = "#cf222e"


class StatusFilter(admin.SimpleListFilter):
    """The queue opens on what is waiting for a decision."""

    title = _("statut")
    parameter_name = "status__exact"  # the usual name: links from elsewhere use it
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*Status.choices, (self.ALL, _("toutes"))]

    def value(self):
        return super().value() or Status.PENDING

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() in Status.values:
            return queryset.filter(status=self.value())
        return queryset


@admin.register(MemberRequest)
class MemberRequestAdmin(DomainScopedAdminMixin, IndexedSearchMixin, admin.ModelAdmin):
    domain_lookups = ("domain", "mailbox__domain")  # a new address; a forgotten password
    list_display = [
        "created_at", "kind", "asked", "contact", "short_message", "status", "note", "last_error",
    ]  # fmt: skip
    list_filter = [StatusFilter, "kind"]
    list_select_related = ["domain", "mailbox__domain", "mailbox__member"]
    search_fields = ["full_name", "personal_email", "local_part", "mailbox__member__full_name"]
    list_per_page = 50
    actions = ["approve", "refuse"]
    fields = [
        "kind", "status", "full_name", "local_part", "domain", "personal_email", "phone",
        "message", "mailbox", "refusal_reason", "last_error", "created_at", "confirmed_at",
        "decided_at", "decided_by", "self_service", "note",
    ]  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request):
        taken = Mailbox.objects.filter(
            domain=OuterRef("domain"), local_part__iexact=OuterRef("local_part")
        )
        return super().get_queryset(request).annotate(address_taken=Exists(taken))

    def has_add_permission(self, request):
        return False  # requests come from the public pages

    def has_approve_permission(self, request):
        return request.user.has_perms(["memberrequests.change_memberrequest", *MAILBOX_PERMISSIONS])

    # --- columns ---

    @admin.display(description=_("demande"))
    def asked(self, obj):
        if obj.kind == MemberRequest.Kind.PASSWORD:
            return format_html("{} — {}", obj.address, obj.member_name)
        if obj.address_taken and obj.status in MemberRequest.OPEN:
            return format_html(
                '{} — {} <strong style="color:{}">({})</strong>',
                obj.address, obj.full_name, RED, _("adresse déjà prise"),
            )  # fmt: skip
        return format_html("{} — {}", obj.address, obj.full_name)

    @admin.display(description=_("contact"))
    def contact(self, obj):
        if obj.kind == MemberRequest.Kind.PASSWORD:
            return obj.member_email
        return format_html("{}<br>{}", obj.personal_email, obj.phone)

    @admin.display(description=_("message"))
    def short_message(self, obj):
        return Truncator(obj.message).chars(80) or "—"

    # --- actions ---

    @admin.action(
        description=_("Approuver (créer l'adresse, ou envoyer un nouveau mot de passe)"),
        permissions=["approve"],
    )
    def approve(self, request, queryset):
        for member_request in queryset.order_by("created_at", "pk"):
            try:
                report = services.member_request_approve(
                    member_request=member_request, actor=Actor.from_request(request)
                )
            except ValidationError as exc:
                self._report_failure(request, member_request, " ".join(exc.messages))
            except ProvisioningError as exc:
                self._report_failure(request, member_request, exc.message)
            else:
                self.message_user(request, report, messages.SUCCESS)

    @admin.action(
        description=_("Refuser (avec une raison envoyée au membre)"), permissions=["approve"]
    )
    def refuse(self, request, queryset):
        """An intermediate page asks for the reason; its form posts this action again."""
        form = RefuseForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            for member_request in queryset.order_by("created_at", "pk"):
                try:
                    services.member_request_refuse(
                        member_request=member_request,
                        reason=form.cleaned_data["reason"],
                        actor=Actor.from_request(request),
                    )
                except ValidationError as exc:
                    self._report_failure(request, member_request, " ".join(exc.messages))
                else:
                    self.message_user(
                        request,
                        _("Demande n°%(pk)s (%(address)s) refusée ; le membre en est informé.")
                        % {"pk": member_request.pk, "address": member_request.address},
                    )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Refuser des demandes"),
            "opts": self.model._meta,
            "queryset": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/memberrequests/memberrequest/refuse.html", context)

    def _report_failure(self, request, member_request, text: str) -> None:
        self.message_user(
            request,
            _("Demande n°%(pk)s (%(address)s) : %(error)s")
            % {"pk": member_request.pk, "address": member_request.address, "error": text},
            messages.ERROR,
        )


@admin.register(MemberImport)
class MemberImportAdmin(DomainScopedAdminMixin, admin.ModelAdmin):
    """ "Ajouter" uploads a file; an import's page is its preview, then its results."""

    list_display = ["created_at", "file_name", "domain", "uploaded_by", "status", "summary"]
    list_select_related = ["domain", "uploaded_by"]

    def get_queryset(self, request):
        counts = {
            status: Count("rows", filter=Q(rows__status=status)) for status in RowStatus.values
        }
        return super().get_queryset(request).annotate(**{f"n_{k}": v for k, v in counts.items()})

    def scope_queryset(self, request, queryset):
        """A gestionnaire's imports: into their domain, no row of another (`x@autre.be`)."""
        ids = access.managed_domain_ids(request.user)
        scoped = super().scope_queryset(request, queryset)
        if not ids:
            return scoped
        elsewhere = MemberImportRow.objects.filter(member_import=OuterRef("pk")).exclude(
            Q(domain=None) | Q(domain__in=ids)
        )
        return scoped.exclude(Exists(elsewhere))

    def has_add_permission(self, request):
        return super().has_add_permission(request) and request.user.has_perms(MAILBOX_PERMISSIONS)

    def has_change_permission(self, request, obj=None):
        return False  # an import is never edited; its page is read-only

    @admin.display(description=_("lignes"))
    def summary(self, obj):
        return _(
            "%(create)d à créer · %(created)d créées · %(exists)d existent déjà · "
            "%(error)d en erreur"
        ) % {"create": obj.n_create, "created": obj.n_created, "exists": obj.n_exists,
             "error": obj.n_error}  # fmt: skip

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/confirmer/", view(self.confirm_view),
                 name="memberrequests_memberimport_confirm"),
            path("<path:object_id>/rapport.csv", view(self.report_view),
                 name="memberrequests_memberimport_report"),
            path("<path:object_id>/statut/", view(self.status_view),
                 name="memberrequests_memberimport_status"),
            *super().get_urls(),
        ]  # fmt: skip

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        domains = access.managed_domains(request.user)
        default = domains.filter(name=settings.MAIL_DOMAIN).first() or domains.first()
        posted = request.method == "POST"
        form = ImportUploadForm(
            request.POST if posted else None,
            request.FILES if posted else None,
            initial={"domain": default},
        )
        limit_domain_choices(form, request.user)  # another domain's id: an invalid choice
        if posted and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                with transaction.atomic():  # nothing kept when a row is another domain's
                    member_import = imports.member_import_preview(
                        data=upload.read(), file_name=upload.name,
                        domain=form.cleaned_data["domain"], uploaded_by=request.user,
                    )  # fmt: skip
                    self._refuse_other_domains(request, member_import)
            except ValidationError as exc:
                form.add_error("file", exc.messages)
            else:
                return redirect("admin:memberrequests_memberimport_change", member_import.pk)
        context = {**self._context(request, _("Importer des membres (CSV)")), "form": form}
        return TemplateResponse(request, "admin/memberrequests/memberimport/upload.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member_import = self._import_or_404(request, object_id)
        if not self.has_view_permission(request, member_import):
            raise PermissionDenied
        shown = request.GET.get("statut", "")
        rows = member_import.rows.select_related("domain").order_by("line")
        if shown in RowStatus.values:
            rows = rows.filter(status=shown)
        counts = imports.member_import_counts(member_import=member_import)
        context = {
            **self._context(request, _("Import de %(file)s") % {"file": member_import.file_name}),
            "member_import": member_import,
            "page": Paginator(rows, PREVIEW_PAGE_SIZE).get_page(request.GET.get("page")),
            "shown": shown,
            "filters": [("", _("toutes"), sum(counts.values()))]
            + [
                (status, label, counts[status])
                for status, label in RowStatus.choices
                if counts[status]
            ],
            "can_confirm": member_import.status == MemberImport.Status.PREVIEWED
            and self.has_add_permission(request),
            "to_create": counts[RowStatus.CREATE],
            # The provisioning's progress, shown without JS; import_progress.js follows it.
            "live": importprogress.member_import_report_live(member_import=member_import)
            if member_import.status == MemberImport.Status.CONFIRMED
            else None,
        }
        return TemplateResponse(request, "admin/memberrequests/memberimport/preview.html", context)

    def confirm_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        member_import = self._import_or_404(request, object_id)
        if not self.has_add_permission(request):
            raise PermissionDenied
        try:
            counts = imports.member_import_confirm(
                member_import=member_import, actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.message_user(
                request,
                _(
                    "%(created)d adresses créées, chacune avec son envoi de mot de passe par "
                    "SMS ; %(exists)d existaient déjà ; %(errors)d lignes en erreur."
                )
                % {
                    "created": counts[RowStatus.CREATED],
                    "exists": counts[RowStatus.EXISTS],
                    "errors": counts[RowStatus.ERROR],
                },
                messages.WARNING if counts[RowStatus.ERROR] else messages.SUCCESS,
            )
        return redirect("admin:memberrequests_memberimport_change", member_import.pk)

    def status_view(self, request, object_id):
        """The confirmed import's progress, for its page to follow without a reload."""
        member_import = self._import_or_404(request, object_id)
        if not self.has_view_permission(request, member_import):
            raise Http404
        return JsonResponse(importprogress.member_import_report_live(member_import=member_import))

    def report_view(self, request, object_id):
        member_import = self._import_or_404(request, object_id)
        if not self.has_view_permission(request, member_import):
            raise PermissionDenied
        response = HttpResponse(
            imports.member_import_report(member_import=member_import),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="import-{member_import.pk}.csv"'
        return response

    def _refuse_other_domains(self, request, member_import) -> None:
        ids = access.managed_domain_ids(request.user)
        if ids is None:
            return
        lines = member_import.rows.exclude(Q(domain=None) | Q(domain__in=ids))
        lines = list(lines.order_by("line").values_list("line", flat=True)[:20])
        if lines:
            raise ValidationError(
                _(
                    "Ligne(s) %(lines)s : adresse(s) d'un domaine qui ne vous est pas confié. "
                    "Rien n'est importé : retirez ces lignes, ou demandez l'import à un "
                    "administrateur."
                )
                % {"lines": ", ".join(map(str, lines))}
            )

    def _import_or_404(self, request, object_id) -> MemberImport:
        member_import = self.get_object(request, unquote(object_id))
        if member_import is None:
            raise Http404
        return member_import

    def _context(self, request, title) -> dict:
        request.current_app = self.admin_site.name
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "app_label": self.model._meta.app_label,
            "changelist_url": reverse("admin:memberrequests_memberimport_changelist"),
        }
