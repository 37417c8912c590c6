"""System checks of the project's own settings: development email backends and a
per-process cache in production."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning
from django.core.checks import register as register_check

# Backends that never deliver: a member would never get their settings or a notice.
DEVELOPMENT_EMAIL = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
LOCMEM_EMAIL = "django.core.mail.backends.locmem.EmailBackend"
LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"


def email_backend(app_configs, **kwargs):
    if settings.DEBUG or settings.EMAIL_BACKEND not in DEVELOPMENT_EMAIL:
        return []
    return [
        Error(
            "A development email backend is configured while DEBUG is off.",
            hint="Set EMAIL_URL (e.g. submission://user:password@host:587).",
            id="octopus_mail.E001",
        )
    ]


def email_backend_locmem(app_configs, **kwargs):
    # A deployment check only: Django's test runner itself swaps in locmem, and the test
    # suite's in-process Celery worker runs the ordinary checks.
    if settings.DEBUG or settings.EMAIL_BACKEND != LOCMEM_EMAIL:
        return []
    return [
        Error(
            "The in-memory email backend is configured while DEBUG is off.",
            hint="Set EMAIL_URL (e.g. submission://user:password@host:587).",
            id="octopus_mail.E002",
        )
    ]


def cache_locmem(app_configs, **kwargs):
    # A deployment check only, as E002: the test settings keep the local cache on purpose.
    if settings.DEBUG or settings.CACHES["default"]["BACKEND"] != LOCMEM_CACHE:
        return []
    return [
        Warning(
            "The rate limits of the public pages count in local memory while DEBUG is off: "
            "each application process has its own, so a client gets as many times the limit.",
            hint="Set CACHE_URL to a Redis shared by every process (e.g. redis://127.0.0.1:6379/1).",
            id="octopus_mail.W001",
        )
    ]


def register() -> None:
    register_check(email_backend, Tags.compatibility)
    register_check(email_backend_locmem, Tags.security, deploy=True)
    register_check(cache_locmem, Tags.caches, deploy=True)
