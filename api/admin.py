"""« Jetons d'API » in the admin, for administrators only (superusers and the group
« Administrateurs », never « Gestionnaires »), behind the admin's second factor: create one
(its secret shown once, on the page that answers the form, never stored or put in a
message), list, revoke."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _

from audit.services import Actor
from roles.access import is_administrator

from . import services
from .models import ApiToken, Scope


class ApiTokenCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("droits"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    expires_in_days = forms.IntegerField(
        label=_("valable (jours)"),
        initial=services.DEFAULT_LIFETIME_DAYS,
        min_value=1,
        max_value=services.MAX_LIFETIME_DAYS,
    )

    class Meta:
        model = ApiToken
        fields = ["name", "scopes", "domains"]

    def clean(self):
        data = super().clean()
        try:  # the service's checks, the same as createapitoken's
            services.api_token_validate(
                name=data.get("name", ""),
                scopes=data.get("scopes", []),
                expires_in_days=data.get("expires_in_days"),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                if field not in self.errors:
                    self.add_error(field, errors)
        return data


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix_display", "scopes_display", "domains_display", "expires_at",
                    "last_used_at", "state_display"]  # fmt: skip
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    fields = ["name", "prefix_display", "scopes_display", "domains_display", "expires_at",
              "last_used_at", "revoked_at", "created_by", "created_at"]  # fmt: skip
    readonly_fields = fields
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("domains")

    # Administrators only: a token may reach every domain, as they do; a gestionnaire's
    # delegation could not bind it.
    def has_module_permission(self, request):
        return is_administrator(request.user)

    has_view_permission = has_add_permission = has_change_permission = (
        lambda self, request, obj=None: self.has_module_permission(request)
    )

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the audit trail names it

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return self.fields if obj else ["name", "scopes", "domains", "expires_in_days"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        issued = services.api_token_create(
            name=data["name"],
            scopes=data["scopes"],
            domains=list(data["domains"]),
            expires_in_days=data["expires_in_days"],
            actor=Actor.from_request(request),
        )
        obj.pk = issued.token.pk
        obj.issued_secret = issued.secret  # for response_add, in this request only

    def save_related(self, request, form, formsets, change):
        pass  # the service set the domains

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "title": _("Jeton créé : copiez-le maintenant"),
            "token": ApiToken.objects.get(pk=obj.pk),
            "secret": obj.issued_secret,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/api/apitoken/created.html", context)
        add_never_cache_headers(response)  # the secret in no cache, no back button
        return response

    @admin.action(description=_("Révoquer les jetons sélectionnés"))
    def revoke(self, request, queryset):
        actor = Actor.from_request(request)
        for token in queryset:
            try:
                services.api_token_revoke(token=token, actor=actor)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
            else:
                self.message_user(request, _("Jeton « %(name)s » révoqué.") % {"name": token.name})

    @admin.display(description=_("début du jeton"))
    def prefix_display(self, obj):
        return f"{obj.prefix}…"

    @admin.display(description=_("droits"))
    def scopes_display(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description=_("domaines"))
    def domains_display(self, obj):
        if not obj.domains_limited:
            return _("tous")
        return ", ".join(domain.name for domain in obj.domains.all()) or _("aucun")

    @admin.display(description=_("état"))
    def state_display(self, obj):
        if obj.revoked_at:
            return _("révoqué")
        return _("expiré") if obj.expires_at <= timezone.now() else _("valide")
