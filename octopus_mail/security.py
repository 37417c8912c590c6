"""Who is knocking (client IP behind a proxy), the lockout page, and scrubbed error reports."""

import hashlib
import ipaddress
import re

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.views.debug import SafeExceptionReporterFilter


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the address the trusted proxies saw when TRUSTED_PROXY_COUNT says so.

    Each proxy appends the address it received the request from to X-Forwarded-For: the
    entry written by the outermost trusted proxy is the n-th from the right. Entries further
    left were written by the client and prove nothing.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if len(forwarded) < count:
        return remote
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def attempted_username(request, credentials) -> str | None:
    """The username axes counts failures for: an unknown name is kept only as a digest.

    Someone who types their password in the username field must not find it stored.
    """
    if credentials:
        username = credentials.get("username")
    else:
        username = request.POST.get("username") if request is not None else None
    if not username:
        return None
    if get_user_model()._default_manager.filter(username=username).exists():
        return username
    return "inconnu-" + hashlib.sha256(username.encode()).hexdigest()[:12]


def lockout_response(request, original_response=None, credentials=None):
    """The French page shown instead of the login form while a user or an IP is locked out."""
    context = {
        **admin.site.each_context(request),
        "title": "Connexion bloquée",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff_hours": settings.AXES_COOLOFF_TIME,
    }
    return render(request, "admin/octopus/lockout.html", context, status=429)


# Field names whose values never appear in an error page or an error email.
SENSITIVE_POST = re.compile(r"pass|token|secret|otp|code|signature|auth|key", flags=re.I)


class ScrubbingExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter, with more settings hidden and every sensitive-looking POST field.

    Django hides POST fields only in views marked with @sensitive_post_parameters; here a
    field named like a password, a token or a code is hidden in every view, DEBUG or not.
    """

    # LOCATION: a cache's URL, such as CACHES' redis://:password@host.
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|AUTH|_URL$|BROKER|DSN|LOCATION",
        flags=re.I,
    )

    def is_active(self, request):
        return True

    def get_traceback_frame_variables(self, request, tb_frame):
        # A local named like a token (or a dict holding one, such as cleaned_data) is hidden too.
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, self.cleanse_setting(name, value)) for name, value in variables]

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if request is None:
            return parameters
        cleansed = parameters.copy()
        for name in parameters:
            if SENSITIVE_POST.search(name):
                cleansed[name] = self.cleansed_substitute
        return cleansed
