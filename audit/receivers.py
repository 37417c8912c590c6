"""Logins, failed logins and lockouts, recorded from Django's and django-axes' signals.

Credentials are never stored: only the username, and only when such a user exists (a
password typed in the username field must not land in the trail).
"""

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed

from .models import Action, Outcome
from .services import Actor, audit_record

UNKNOWN_USER = "identifiant inconnu"


def on_logged_in(sender, request, user, **kwargs) -> None:
    if request is None:
        return
    device = getattr(user, "otp_device", None)
    if device is not None:
        action, detail = Action.LOGIN, f"second facteur : {device.name}"
    else:
        action, detail = Action.LOGIN_PASSWORD, "mot de passe accepté ; second facteur demandé"
    audit_record(
        actor=Actor.from_request(request, user),
        action=action,
        target=user.get_username(),
        detail=detail,
    )


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    if request is None:
        return
    username = (credentials or {}).get("username") or ""
    known = bool(username) and get_user_model()._default_manager.filter(username=username).exists()
    if getattr(request, "axes_locked_out", False):
        detail = "refusée : accès bloqué après trop d'échecs"
    elif (credentials or {}).get("second_factor"):
        detail = "jeton du second facteur refusé"
    else:
        detail = "identifiant ou mot de passe refusé"
    audit_record(
        actor=Actor(label="anonyme", ip=Actor.from_request(request).ip),
        action=Action.LOGIN_FAILED,
        target=username if known else UNKNOWN_USER,
        outcome=Outcome.REFUSED,
        detail=detail,
    )


def on_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    known = bool(username) and get_user_model()._default_manager.filter(username=username).exists()
    audit_record(
        actor=Actor(label="anonyme", ip=ip_address),
        action=Action.LOCKOUT,
        target=username if known else UNKNOWN_USER,
        outcome=Outcome.REFUSED,
        detail=(
            f"{settings.AXES_FAILURE_LIMIT} échecs : connexions refusées pendant "
            f"{settings.AXES_COOLOFF_TIME} h après le dernier, ou jusqu'au déblocage."
        ),
    )


def connect() -> None:
    user_logged_in.connect(on_logged_in, dispatch_uid="audit.on_logged_in")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit.on_login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="audit.on_locked_out")
