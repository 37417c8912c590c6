"""The admin site: nothing in it is reachable without a verified second factor."""

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp.admin import OTPAdminSite

from roles import access

from . import dashboard, login


class OctopusAdminSite(OTPAdminSite):
    site_header = _("Octopus-Soignies — adresses mail")
    site_title = _("Octopus-Soignies")
    index_title = _("Administration des adresses mail")
    login_form = login.PasswordLoginForm
    login_template = "admin/octopus/login.html"

    def index(self, request, extra_context=None):
        """Deliveries and requests that need the administrator come first (in the user's
        domains), and a gestionnaire is told which domains those are."""
        context = {
            "dashboard": dashboard.rows(request.user),
            "roles_notice": access.index_notice(request.user),
        }
        return super().index(request, {**context, **(extra_context or {})})

    def get_urls(self):
        # Not wrapped in admin_view: the enrolment of a first device comes before verification.
        enrol = never_cache(csrf_protect(lambda request: login.enrol_view(request, self)))
        return [path("second-facteur/", enrol, name="otp_enrol"), *super().get_urls()]

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        """Django's admin login, with the password and the second factor in two steps."""
        if request.method == "GET" and self.has_permission(request):
            return HttpResponseRedirect(reverse("admin:index", current_app=self.name))
        context = {
            **self.each_context(request),
            "title": _("Connexion"),
            "subtitle": None,
            "app_path": request.get_full_path(),
            "username": request.user.get_username(),
            **(extra_context or {}),
        }
        if REDIRECT_FIELD_NAME not in request.GET and REDIRECT_FIELD_NAME not in request.POST:
            context[REDIRECT_FIELD_NAME] = reverse("admin:index", current_app=self.name)
        request.current_app = self.name
        view = login.SecondFactorLoginView.as_view(
            extra_context=context, template_name=self.login_template, site=self
        )
        return view(request)
