"""The admin's way in: password, then a token, or the enrolment of a first device.

Step 1 (anyone): username and password, checked by Django's auth behind django-axes. The
session is then authenticated but not verified, which the admin site refuses. Step 2: a
token from one of the user's confirmed devices (same URL), or, for a staff member with no
device at all, the enrolment page. A refused token counts as a failed login for axes.
"""

from functools import partial
from urllib.parse import urlencode

import django_otp
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import BACKEND_SESSION_KEY, REDIRECT_FIELD_NAME
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables
from django_otp.forms import OTPAuthenticationFormMixin, OTPTokenForm
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action
from audit.services import Actor, audit_record

from . import otp
from .security import lockout_response

OTP_ERRORS = {
    **OTPAuthenticationFormMixin.otp_error_messages,
    "token_required": _("Saisissez le code de votre application, ou un code de secours."),
    "invalid_token": _(
        "Code refusé : vérifiez-le et réessayez. Un code déjà utilisé est toujours refusé."
    ),
    "n_failed_attempts": _(
        "Vérification suspendue après %(failure_count)d codes refusés : réessayez dans un moment."
    ),
    "verification_not_allowed": _("Vérification suspendue : réessayez dans un moment."),
    "device_required": _("Choisissez l'appareil : téléphone ou codes de secours."),
}


def token_failed(request, user) -> None:
    """Tell django-axes (and the audit trail) that a second factor was refused."""
    user_login_failed.send(
        sender=__name__,
        credentials={"username": user.get_username(), "second_factor": True},
        request=request,
    )


def is_allowed(request, user) -> bool:
    return AxesProxyHandler.is_allowed(request, {"username": user.get_username()})


class SecondFactorMixin(OTPAuthenticationFormMixin):
    """Only confirmed devices count, and a refused token counts as a failed login."""

    otp_error_messages = OTP_ERRORS

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        return device if device is not None and device.confirmed else None

    def _verify_token(self, user, token, device=None):
        try:
            return super()._verify_token(user, token, device)
        except ValidationError as exc:
            # A code refused or not even checked (device throttled) is a guess all the same.
            if exc.code != "device_required":
                token_failed(self.request, user)
            raise

    def _update_form(self, user):
        # django-otp would echo the password back into the page: keep only the device list.
        if "otp_device" in self.fields:
            self.fields["otp_device"].widget.choices = self.device_choices(user)


class PasswordLoginForm(SecondFactorMixin, AdminAuthenticationForm):
    """The password; the token may come with it (one step) or on the next page."""

    otp_device = forms.CharField(required=False, widget=forms.Select)
    otp_token = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def clean(self):
        cleaned = super().clean()
        user = self.get_user()
        if user is not None and cleaned.get("otp_token"):
            self.clean_otp(user)
        return cleaned


class TokenForm(SecondFactorMixin, OTPTokenForm):
    """Step 2, for a user the password step already authenticated."""

    def __init__(self, user, request=None, *args, **kwargs):
        super().__init__(user, request, *args, **kwargs)
        self.request = request
        self.fields["otp_device"].label = _("Appareil")
        self.fields["otp_token"].label = _("Code")
        phone = TOTPDevice.objects.devices_for_user(user, confirmed=True).first()
        if phone is not None:
            self.fields["otp_device"].initial = phone.persistent_id


class EnrolForm(forms.Form):
    otp_token = forms.CharField(
        label=_("Code affiché par l'application"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class SecondFactorLoginView(auth_views.LoginView):
    site = None

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if otp.needs_second_factor(user):
            if not otp.has_confirmed_device(user):
                return redirect(self.step_url("admin:otp_enrol"))
            if not is_allowed(request, user):
                auth_logout(request)
                return lockout_response(request)
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if "cancel" in request.POST and otp.needs_second_factor(request.user):
            auth_logout(request)  # « changer d'utilisateur » at the token step
            return redirect(self.step_url("admin:login"))
        return super().post(request, *args, **kwargs)

    def get_form_class(self):
        if otp.needs_second_factor(self.request.user):
            return partial(TokenForm, self.request.user)
        return PasswordLoginForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["token_step"] = otp.needs_second_factor(self.request.user)
        return context

    def form_valid(self, form):
        user = form.get_user()
        if not hasattr(user, "backend"):
            user.backend = self.request.session[BACKEND_SESSION_KEY]
        auth_login(self.request, user)  # with a device, django-otp marks the session verified
        if getattr(user, "otp_device", None) is not None:
            # At the token step Django keeps the session of the password step: a key seen
            # before the code must not open a verified session.
            self.request.session.cycle_key()
            return redirect(self.get_success_url())
        if otp.has_confirmed_device(user):
            return redirect(self.step_url("admin:login"))
        return redirect(self.step_url("admin:otp_enrol"))

    def form_invalid(self, form):
        if getattr(self.request, "axes_locked_out", False) and self.request.user.is_authenticated:
            auth_logout(self.request)  # locked out in the middle: start again from the password
        return super().form_invalid(form)

    def get_default_redirect_url(self):
        return reverse("admin:index", current_app=self.site.name)

    def step_url(self, name: str) -> str:
        return step_url(self.site, name, self.get_success_url())


def step_url(site, name: str, next_url: str) -> str:
    url = reverse(name, current_app=site.name)
    return f"{url}?{urlencode({REDIRECT_FIELD_NAME: next_url})}"


def enrol_view(request, site):
    """Enrol a TOTP device: QR code and secret, one token to confirm, then backup codes.

    Reachable by a staff member with no confirmed device (their first one, right after the
    password step), or by a verified one (another phone); by nobody else.
    """
    user = request.user
    login_url = reverse("admin:login", current_app=site.name)
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return redirect_to_login(request.get_full_path(), login_url)
    first = not otp.has_confirmed_device(user)
    if not first and not user.is_verified():
        return redirect_to_login(request.get_full_path(), login_url)  # the token step first
    if not is_allowed(request, user):
        auth_logout(request)
        return lockout_response(request)
    next_url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME)
    if not next_url or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index", current_app=site.name)
    device = otp.totp_device_pending(user=user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = otp.totp_device_confirm(
                device=device, token=form.cleaned_data["otp_token"]
            )
        except ValidationError as exc:
            form.add_error("otp_token", exc)
            if exc.code != "confirmed":
                token_failed(request, user)
                if getattr(request, "axes_locked_out", False):
                    auth_logout(request)
                    return lockout_response(request)
        else:
            return enrolled(request, site, device, codes, first=first, next_url=next_url)
    context = {
        **site.each_context(request),
        "title": _("Activer le second facteur"),
        "form": form,
        "first": first,
        "qr_code": mark_safe(otp.qr_code_svg(device.config_url)),  # noqa: S308 - our own SVG
        "secret": otp.secret_text(device),
        "next": next_url,
    }
    return TemplateResponse(request, "admin/octopus/enrol.html", context)


@sensitive_variables("codes")
def enrolled(request, site, device, codes, *, first: bool, next_url: str):
    actor = Actor.from_request(request)
    if first:
        django_otp.login(request, device)
        request.session.cycle_key()  # a new session id for the now verified session
    audit_record(
        actor=actor,
        action=Action.OTP_ENROL,
        target=request.user.get_username(),
        detail=f"appareil « {device.name} » activé ; {len(codes)} nouveaux codes de secours",
    )
    if first:
        audit_record(
            actor=actor,
            action=Action.LOGIN,
            target=request.user.get_username(),
            detail=f"second facteur : {device.name} (à son activation)",
        )
    context = {
        **site.each_context(request),
        "title": _("Codes de secours"),
        "codes": codes,
        "next": next_url,
    }
    return TemplateResponse(request, "admin/octopus/backup_codes.html", context)
