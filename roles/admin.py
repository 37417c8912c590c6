"""The roles in the admin (this module registers no page of its own):

- `DomainScopedAdminMixin`, on every page of members' data: a gestionnaire's lists,
  searches, filters, actions, autocompletes, forms and JSON views reach only the objects of
  their domains; another domain's object is a 404 (never a 403: nothing to probe);
- `AdministratorsOnlyAdminMixin`: domains, users, groups, lockouts, the audit trail;
- `StaffRolesAdminMixin`: the user page's groups and « Domaines confiés », recorded.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from accounts.models import Domain
from audit.services import Actor

from . import access, services
from .forms import StaffChangeForm, scoped_form


class DomainScopedAdminMixin:
    """Put before admin.ModelAdmin. `domain_lookups`: the paths from the model to its domain
    (any of them in the user's domains will do)."""

    domain_lookups: tuple[str, ...] = ("domain",)

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request))

    def scope_queryset(self, request, queryset):
        return access.scope(queryset, request.user, *self.domain_lookups)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # Display methods get no request: they read here which domains they may name.
            obj.viewer_domains = access.managed_domain_names(request.user)
        return obj

    def object_or_404(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404  # not Django's redirect: another domain's object looks like no object
        return obj

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self.object_or_404(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self.object_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self.object_or_404(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if access.managed_domain_ids(request.user) is None:
            return filters
        # Django's filter on a domain lists every domain; this one, those of the rows shown.
        return [
            (name, admin.RelatedOnlyFieldListFilter) if name in self.domain_lookups else name
            for name in filters
        ]

    def get_form(self, request, obj=None, **kwargs):
        return self.scope_form(request, super().get_form(request, obj, **kwargs))

    def scope_form(self, request, form_class):
        return scoped_form(form_class, request.user)

    def get_changeform_initial_data(self, request):
        """A new object's domain: the user's only one, else MAIL_DOMAIN if they reach it."""
        initial = super().get_changeform_initial_data(request)
        if "domain" not in self.domain_lookups or "domain" in initial:
            return initial
        ids = access.managed_domain_ids(request.user)
        if ids is not None and len(ids) == 1:
            initial["domain"] = next(iter(ids))
            return initial
        default = Domain.objects.filter(name=settings.MAIL_DOMAIN).values_list("pk", flat=True)
        pk = default.first()
        if pk is not None and (ids is None or pk in ids):
            initial["domain"] = pk
        return initial


class AdministratorsOnlyAdminMixin:
    """Put before the admin class: its pages answer 403 to anyone but an administrator."""

    def has_module_permission(self, request):
        return access.is_administrator(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, *args, **kwargs):
        return access.is_administrator(request.user) and super().has_view_permission(
            request, *args, **kwargs
        )

    def has_add_permission(self, request, *args, **kwargs):
        return access.is_administrator(request.user) and super().has_add_permission(
            request, *args, **kwargs
        )

    def has_change_permission(self, request, *args, **kwargs):
        return access.is_administrator(request.user) and super().has_change_permission(
            request, *args, **kwargs
        )

    def has_delete_permission(self, request, *args, **kwargs):
        return access.is_administrator(request.user) and super().has_delete_permission(
            request, *args, **kwargs
        )


def administrators_only(admin_class: type) -> type:
    """`admin_class` (a third party's: groups, django-axes' logs) for administrators only."""
    return type(admin_class.__name__, (AdministratorsOnlyAdminMixin, admin_class), {})


class StaffRolesAdminMixin:
    """For the users' page: the domains entrusted to a user beside their groups; both saved
    through user_roles_set, which records each change."""

    form = StaffChangeForm
    fieldsets = [
        *UserAdmin.fieldsets[:3],
        (_("Domaines confiés"), {"fields": ["domains"]}),
        *UserAdmin.fieldsets[3:],
    ]

    def save_related(self, request, form, formsets, change):
        data = form.cleaned_data
        if "groups" in data and "domains" in data:  # the change form; not the creation one
            services.user_roles_set(
                user=form.instance,
                groups=data["groups"],
                domains=data["domains"],
                actor=Actor.from_request(request),
            )
        super().save_related(request, form, formsets, change)
