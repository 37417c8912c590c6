"""System checks: configuration mistakes reported at start-up, each with an id."""

import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning
from django.core.checks import register as register_check
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import dns, mailschemas, mailserver
from .exceptions import ProvisioningError

DEVELOPMENT_SMS = {"provisioning.sms.console.SmsBackend", "provisioning.sms.filebased.SmsBackend"}
FILE_EMAIL = "django.core.mail.backends.filebased.EmailBackend"


def sms_backend(app_configs, **kwargs):
    errors = []
    try:
        import_string(settings.SMS_BACKEND)
    except ImportError:
        return [
            Error(
                f"SMS_BACKEND {settings.SMS_BACKEND!r} cannot be imported.", id="provisioning.E002"
            )
        ]
    if not settings.DEBUG and settings.SMS_BACKEND in DEVELOPMENT_SMS:
        errors.append(
            Error(
                "A development SMS backend is configured while DEBUG is off.",
                hint="Set SMS_BACKEND=provisioning.sms.twilio.SmsBackend.",
                id="provisioning.E003",
            )
        )
    if settings.SMS_TIMEOUT <= 0:
        errors.append(
            Error(
                f"SMS_TIMEOUT must be a positive number of seconds, not {settings.SMS_TIMEOUT}.",
                id="provisioning.E008",
            )
        )
    if settings.SMS_BACKEND == "provisioning.sms.twilio.SmsBackend":
        if not (settings.TWILIO_ACCOUNT_SID and settings.TWILIO_AUTH_TOKEN):
            errors.append(
                Error(
                    "The Twilio SMS backend needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
                    id="provisioning.E004",
                )
            )
        if not (settings.TWILIO_FROM or settings.TWILIO_MESSAGING_SERVICE_SID):
            errors.append(
                Error(
                    "The Twilio SMS backend needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID.",
                    id="provisioning.E005",
                )
            )
    return errors


def mailserver_schema(app_configs, **kwargs):
    if settings.MAILSERVER_SCHEMA not in mailschemas.SCHEMAS:
        return [
            Error(
                f"MAILSERVER_SCHEMA={settings.MAILSERVER_SCHEMA!r} is not supported.",
                hint=f"Choose one of: {', '.join(sorted(mailschemas.SCHEMAS))}.",
                id="provisioning.E006",
            )
        ]
    return []


def mailserver_table(app_configs, databases=None, **kwargs):
    """A table lacking a needed column is a configuration error now, not at the first job."""
    if not databases or mailserver.ALIAS not in databases:
        return []  # like Django's database checks: only with `check --database mailserver`
    if settings.MAILSERVER_SCHEMA not in mailschemas.SCHEMAS:
        return []
    try:
        missing = mailserver.missing_columns()
    except ProvisioningError as exc:
        return [Warning(exc.message, id="provisioning.W002")]
    schema = mailschemas.current()
    if schema.create_tables and all(item.endswith("(table)") for item in missing):
        # Not created yet: `migrate --database mailserver` is about to create them.
        return (
            [
                Warning(
                    "The mail-server tables do not exist yet.",
                    hint="Run `manage.py migrate --database mailserver`.",
                    id="provisioning.W003",
                )
            ]
            if missing
            else []
        )
    if missing:
        return [
            Error(
                f"The mail-server database lacks what MAILSERVER_SCHEMA="
                f"{settings.MAILSERVER_SCHEMA} needs: {', '.join(missing)}.",
                hint="Run `manage.py migrate --database mailserver` (ispmail), or check "
                "MAILSERVER_SCHEMA and MAILSERVER_DATABASE_URL.",
                id="provisioning.E007",
            )
        ]
    return []


def broker(app_configs, **kwargs):
    if not settings.DEBUG and not settings.CELERY_BROKER_URL:
        return [
            Warning(
                "No CELERY_BROKER_URL: jobs run inside the web process.",
                hint="Set CELERY_BROKER_URL and run a Celery worker and beat in production.",
                id="provisioning.W001",
            )
        ]
    return []


def broker_redelivery(app_configs, **kwargs):
    """A retry's countdown waits in the worker, its message unacknowledged (acks_late) until
    the step has run: RabbitMQ closes the channel of a message held past consumer_timeout."""
    url = (settings.CELERY_BROKER_URL or "").lower()
    if not url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return []
    held = settings.PROVISIONING_RETRY_BACKOFF_MAX + settings.PROVISIONING_CLAIM_TIMEOUT
    if held < settings.RABBITMQ_CONSUMER_TIMEOUT:
        return []
    return [
        Warning(
            f"A retry may keep its RabbitMQ message unacknowledged {held} s "
            "(PROVISIONING_RETRY_BACKOFF_MAX + PROVISIONING_CLAIM_TIMEOUT), not less than "
            f"RABBITMQ_CONSUMER_TIMEOUT ({settings.RABBITMQ_CONSUMER_TIMEOUT} s): RabbitMQ "
            "would close the worker's channel and deliver its messages again.",
            hint="Lower PROVISIONING_RETRY_BACKOFF_MAX, or raise consumer_timeout in "
            "rabbitmq.conf (milliseconds) and RABBITMQ_CONSUMER_TIMEOUT (seconds) with it.",
            id="provisioning.W004",
        )
    ]


def dns_settings(app_configs, **kwargs):
    errors = []
    try:
        dns.parse_nameservers(settings.DNS_NAMESERVERS)
    except ImproperlyConfigured as exc:
        errors.append(Error(str(exc), id="provisioning.E020"))
    if settings.DNS_TIMEOUT <= 0 or settings.DNS_LIFETIME < settings.DNS_TIMEOUT:
        errors.append(
            Error(
                "DNS_TIMEOUT must be positive and DNS_LIFETIME at least DNS_TIMEOUT "
                f"(now {settings.DNS_TIMEOUT} and {settings.DNS_LIFETIME}).",
                id="provisioning.E021",
            )
        )
    return errors


def email_file_path(app_configs, **kwargs):
    """The filebased email backend without a directory fails at every email, in the worker."""
    if settings.EMAIL_BACKEND != FILE_EMAIL:
        return []
    path = str(getattr(settings, "EMAIL_FILE_PATH", "") or "")
    if not path:
        return [
            Error(
                "The filebased email backend needs EMAIL_FILE_PATH.",
                hint="Set EMAIL_FILE_PATH=/a/directory, or EMAIL_URL=file:///a/directory.",
                id="provisioning.E009",
            )
        ]
    if os.path.exists(path) and not (os.path.isdir(path) and os.access(path, os.W_OK)):
        return [
            Error(
                f"EMAIL_FILE_PATH {path!r} is not a directory the app can write to.",
                id="provisioning.E010",
            )
        ]
    return []


def register() -> None:
    for check in (
        sms_backend,
        mailserver_schema,
        broker,
        broker_redelivery,
        dns_settings,
        email_file_path,
    ):
        register_check(check)
    register_check(mailserver_table, Tags.database)
