"""System checks of the project's own settings: development email backends in production."""

from django.conf import settings
from django.core.checks import Error, Tags
from django.core.checks import register as register_check

# Backends that never deliver: a member would never get their settings or a notice.
DEVELOPMENT_EMAIL = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
LOCMEM_EMAIL = "django.core.mail.backends.locmem.EmailBackend"


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


def register() -> None:
    register_check(email_backend, Tags.compatibility)
    register_check(email_backend_locmem, Tags.security, deploy=True)
