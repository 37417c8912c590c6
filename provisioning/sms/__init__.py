"""SMS sending, with backends in the style of Django's email backends."""

import os
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.signals import setting_changed
from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from ..exceptions import PermanentError, ProvisioningError
from .base import BaseSmsBackend, SentSms, fits_one_segment

__all__ = (
    "BaseSmsBackend",
    "SentSms",
    "get_backend",
    "password_sms",
    "send_many",
    "send_sms",
)

# A backend that says it may be shared (Twilio: one client, one HTTP connection pool) is
# built once per process, as is the thread pool: keyed by the process id, so that a forked
# worker child builds its own.
_backends: dict[tuple[int, str], BaseSmsBackend] = {}
_pools: dict[int, ThreadPoolExecutor] = {}


def get_backend(path: str | None = None) -> BaseSmsBackend:
    key = (os.getpid(), path or settings.SMS_BACKEND)
    backend = _backends.get(key)
    if backend is None:
        backend = import_string(key[1])()
        if backend.shared:
            _backends[key] = backend
    return backend


def _forget_backends(*, setting: str, **kwargs) -> None:
    if setting.startswith(("SMS_", "TWILIO_", "PUBLIC_BASE_URL")):
        _backends.clear()


setting_changed.connect(_forget_backends)


def send_sms(*, to: str, body: str) -> SentSms:
    return _send_one(get_backend(), to, body)


def send_many(messages: dict) -> dict:
    """{key: (to, body)} sent at once over at most SMS_CONCURRENCY connections; {key: the
    SentSms, or the TransientError or PermanentError of that message alone}.

    Any other exception (a bug) is raised once every message has its answer.
    """
    pool = _pools.get(os.getpid())
    if pool is None:
        pool = _pools[os.getpid()] = ThreadPoolExecutor(
            max_workers=max(1, settings.SMS_CONCURRENCY), thread_name_prefix="sms"
        )
    backend = get_backend()  # built here, once, not by racing threads
    futures = {key: pool.submit(_send_one, backend, *message) for key, message in messages.items()}
    outcomes, unexpected = {}, None
    for key, future in futures.items():
        try:
            outcomes[key] = future.result()
        except ProvisioningError as exc:
            outcomes[key] = exc
        except Exception as exc:  # noqa: BLE001 - raised below, after the others' answers
            unexpected = unexpected or exc
    if unexpected is not None:
        raise unexpected
    return outcomes


def _send_one(backend: BaseSmsBackend, to: str, body: str) -> SentSms:
    if not fits_one_segment(body):
        # Our own template's fault: refuse before a member gets a split or garbled SMS.
        raise PermanentError(
            "Le texte du SMS dépasse un segment GSM-7 (160 caractères sans accents rares) : "
            "modèle à corriger."
        )
    return backend.send(to=to, body=body)


def password_sms(*, kind: str, address: str, password: str) -> str:
    """The SMS text: the fullest template that stays GSM-7 and in one segment."""
    context = {"address": address, "password": password}
    for name in (f"sms/{kind}.txt", f"sms/{kind}_short.txt", "sms/fallback.txt"):
        text = render_to_string(name, context).strip()
        if fits_one_segment(text):
            return text
    raise ValueError("no SMS template fits in one GSM-7 segment")
