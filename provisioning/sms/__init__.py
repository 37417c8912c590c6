"""SMS sending, with backends in the style of Django's email backends."""

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from ..exceptions import PermanentError
from .base import BaseSmsBackend, SentSms, fits_one_segment

__all__ = ("BaseSmsBackend", "SentSms", "get_backend", "password_sms", "send_sms")


def get_backend(path: str | None = None) -> BaseSmsBackend:
    return import_string(path or settings.SMS_BACKEND)()


def send_sms(*, to: str, body: str) -> SentSms:
    if not fits_one_segment(body):
        # Our own template's fault: refuse before a member gets a split or garbled SMS.
        raise PermanentError(
            "Le texte du SMS dépasse un segment GSM-7 (160 caractères sans accents rares) : "
            "modèle à corriger."
        )
    return get_backend().send(to=to, body=body)


def password_sms(*, kind: str, address: str, password: str) -> str:
    """The SMS text: the fullest template that stays GSM-7 and in one segment."""
    context = {"address": address, "password": password}
    for name in (f"sms/{kind}.txt", f"sms/{kind}_short.txt", "sms/fallback.txt"):
        text = render_to_string(name, context).strip()
        if fits_one_segment(text):
            return text
    raise ValueError("no SMS template fits in one GSM-7 segment")
