"""« Alias et listes »: shared addresses and where their mail goes, through the alias services.

The list keeps a constant number of queries (the destinations are prefetched). Saving,
enabling, disabling and deleting call the use cases, which record the act; the worker then
writes the mail table, and the list shows whether it did.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import redirect
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from provisioning import aliases, selectors
from roles.admin import DomainScopedAdminMixin
from roles.forms import scoped_alias_form

from ..forms import AliasForm
from ..models import Alias, AliasDestination
from .mailbox import TONES

SHOWN_DESTINATIONS = 3


@admin.register(Alias)
class AliasAdmin(DomainScopedAdminMixin, admin.ModelAdmin):
    form = AliasForm
    list_display = ["address_display", "destinations_display", "active", "state_display"]
    list_select_related = ["domain"]
    list_filter = ["active", "domain"]
    search_fields = ["local_part", "destinations__address"]
    fields = ["local_part", "domain", "destinations", "active", "state_display"]
    actions = ["enable", "disable"]

    def get_queryset(self, request):
        destinations = AliasDestination.objects.order_by("position")
        return (
            super()
            .get_queryset(request)
            .select_related("domain")
            .prefetch_related(Prefetch("destinations", queryset=destinations))
        )

    def scope_form(self, request, form_class):
        return scoped_alias_form(form_class, request.user)

    def get_readonly_fields(self, request, obj=None):
        # An alias is never renamed: delete it and create the new address instead.
        return ["local_part", "domain", "state_display"] if obj else ["state_display"]

    def get_fields(self, request, obj=None):
        return self.fields if obj else self.fields[:-1]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            outcome = aliases.alias_save(
                source=form.source(data),
                destinations=data["destinations"],
                active=data["active"],
                new=not change,
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            request.alias_unsaved = True
            messages.error(request, " ".join(exc.messages))
            return
        obj.pk = outcome.alias.pk
        for warning in outcome.warnings:
            messages.warning(request, warning)

    def save_related(self, request, form, formsets, change):
        pass  # the destinations are the use case's to write

    def log_addition(self, request, obj, message):
        if not getattr(request, "alias_unsaved", False):
            return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        if not getattr(request, "alias_unsaved", False):
            return super().log_change(request, obj, message)

    def response_add(self, request, obj, post_url_continue=None):
        if getattr(request, "alias_unsaved", False):
            return redirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if getattr(request, "alias_unsaved", False):
            return redirect(request.path)
        return super().response_change(request, obj)

    # --- deletion, through alias_delete ---

    def get_deleted_objects(self, objs, request):
        """An alias another one points to is protected: Django's page says which, in French."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for alias in objs:
            protected += [
                f"{other.address} → {alias.address}"
                for other, via in selectors.aliases_reaching(alias.address)
                if not via
            ]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        try:
            aliases.alias_delete(alias=obj, actor=Actor.from_request(request))
        except ValidationError as exc:
            request.alias_kept = True
            messages.error(request, " ".join(exc.messages))

    def delete_queryset(self, request, queryset):
        for alias in queryset.select_related("domain"):
            self.delete_model(request, alias)

    def response_delete(self, request, obj_display, obj_id):
        if getattr(request, "alias_kept", False):
            return redirect("admin:accounts_alias_change", obj_id)
        return super().response_delete(request, obj_display, obj_id)

    # --- columns ---

    @admin.display(description=_("alias"), ordering="local_part")
    def address_display(self, obj):
        return obj.address

    @admin.display(description=_("destinations"))
    def destinations_display(self, obj):
        addresses = [d.address for d in obj.destinations.all()]  # prefetched
        shown = ", ".join(addresses[:SHOWN_DESTINATIONS])
        more = len(addresses) - SHOWN_DESTINATIONS
        return f"{shown} (+{more})" if more > 0 else shown

    @admin.display(description=_("table du serveur mail"))
    def state_display(self, obj):
        if obj.deleted:
            tone, text = "waiting", _("suppression en cours")
        elif obj.sync_error:
            tone, text = "error", _("pas encore écrit : %(error)s") % {"error": obj.sync_error}
        elif obj.synced:
            tone, text = "ok", _("à jour")
        else:
            tone, text = "waiting", _("en cours d'écriture")
        return format_html('<span style="color:{}">{}</span>', TONES[tone], text)

    # --- actions ---

    def _each(self, request, queryset, active: bool, done):
        actor = Actor.from_request(request)
        for alias in queryset.select_related("domain"):
            try:
                outcome = aliases.alias_set_active(alias=alias, active=active, actor=actor)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
                continue
            for warning in outcome.warnings:
                self.message_user(request, warning, messages.WARNING)
            self.message_user(request, done % {"address": alias.address})

    @admin.action(description=_("Activer"))
    def enable(self, request, queryset):
        self._each(request, queryset, True, _("%(address)s : activé."))

    @admin.action(description=_("Désactiver (le courrier est refusé)"))
    def disable(self, request, queryset):
        self._each(request, queryset, False, _("%(address)s : désactivé."))
