"""Settings, read from environment variables; the embedded defaults make `make run` work."""

from pathlib import Path

import dj_database_url
import pymysql
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .env import cache_from_url, env_bool, env_email_url, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is false")
    SECRET_KEY = "development-only-not-secret"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "octopus_mail.apps.OctopusAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "phonenumber_field",
    "audit",  # before axes: its axes_reset command (audited) replaces axes' own
    "axes",
    "csp",
    "accounts",
    "provisioning",
    "memberrequests",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files served from here: no CDN, same-origin CSP
    "api",
    "roles",  # « Administrateurs », « Gestionnaires » and the domains entrusted to each
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files without a separate server
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during the request into its page.
    "axes.middleware.AxesMiddleware",
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out user or IP before the password
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "octopus_mail.urls"
WSGI_APPLICATION = "octopus_mail.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# Two databases: the app's own, and the mail server's table that Postfix and Dovecot read.
def _database(variable: str, default_file: str) -> dict:
    url = env_str(variable)
    if not url:
        VAR_DIR.mkdir(exist_ok=True)  # the embedded default: SQLite files under var/
        url = f"sqlite:///{VAR_DIR / default_file}"
    config = dj_database_url.parse(url, conn_max_age=60)
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Every network call has a timeout; a statement never outlives a job's claim.
        config.setdefault("OPTIONS", {}).update(
            connect_timeout=5, options="-c statement_timeout=30000"
        )
    return config


DATABASES = {
    "default": _database("DATABASE_URL", "app.sqlite3"),
    "mailserver": _database("MAILSERVER_DATABASE_URL", "mailserver.sqlite3"),
}
DATABASE_ROUTERS = ["octopus_mail.routers.MailserverRouter"]
# MariaDB/MySQL (mysql://...) through PyMySQL, pure Python: no client library to compile.
pymysql.install_as_MySQLdb()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MAILSERVER_SCHEMA = env_str("MAILSERVER_SCHEMA", "ispmail")
MAILSERVER_PASSWORD_SCHEME = env_str("MAILSERVER_PASSWORD_SCHEME", "SHA512-CRYPT").upper()
# The passwords are machine-made with more than 80 bits, so a slow hash buys little against
# guessing while every IMAP and SMTP login pays for it: Dovecot's own defaults.
MAILSERVER_SHA_CRYPT_ROUNDS = env_int("MAILSERVER_SHA_CRYPT_ROUNDS", 5000)
MAILSERVER_BCRYPT_COST = env_int("MAILSERVER_BCRYPT_COST", 10)
MAILSERVER_ARGON2_MEMORY_KIB = env_int("MAILSERVER_ARGON2_MEMORY_KIB", 19456)
MAILSERVER_ARGON2_TIME_COST = env_int("MAILSERVER_ARGON2_TIME_COST", 2)
MAIL_DOMAIN = env_str("MAIL_DOMAIN", "octopus-soignies.be")
# Role addresses (RFC 2142 and the like) that members cannot ask for or import; the local
# part of DEFAULT_FROM_EMAIL is reserved too. The administrator may still create one on
# purpose, with a warning.
RESERVED_LOCAL_PARTS = env_list(
    "RESERVED_LOCAL_PARTS",
    "postmaster,abuse,hostmaster,webmaster,root,noreply,no-reply,mailer-daemon",
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "fr-be"
LANGUAGES = [("fr", _("Français")), ("en", _("Anglais"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Brussels"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

PHONENUMBER_DEFAULT_REGION = "BE"
PHONENUMBER_DB_FORMAT = "E164"

# Celery: the broker is only a doorbell, the job state lives in the app database.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
# Without a broker, tasks run in-process right after the commit that enqueued them.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every connection around every task unless this is set; it
# now recycles them every 250 tasks, and octopus_mail.celery applies CONN_MAX_AGE meanwhile.
CELERY_DB_REUSE_MAX = 250
CELERY_TASK_ACKS_ON_FAILURE_OR_TIMEOUT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker waits out a broker outage however long it lasts (Celery stops after 100 tries).
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}  # Redis only
# RabbitMQ (amqp://): Celery's default queue is durable and its messages persistent, so the
# doorbells waiting survive a broker restart (tests/test_rabbitmq_faults.py). A task whose
# connection dropped keeps running; its message, never acknowledged, comes back and finds
# the job finished: a no-op thanks to the claim. (Celery 6 will cancel such tasks instead.)
CELERY_TASK_DEFAULT_DELIVERY_MODE = "persistent"
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# RabbitMQ's consumer_timeout, in seconds (1800 unless rabbitmq.conf says otherwise): the
# broker closes the channel of a message held unacknowledged longer. A retry's countdown is
# held so: provisioning.W004 checks PROVISIONING_RETRY_BACKOFF_MAX against it.
RABBITMQ_CONSUMER_TIMEOUT = env_int("RABBITMQ_CONSUMER_TIMEOUT", 1800)
CELERY_BEAT_SCHEDULE = {
    "provisioning-sweep": {"task": "provisioning.sweep", "schedule": 60.0},
    # DNS health of every domain, once a day (UTC); alerts only when a check gets worse.
    "dns-watch": {"task": "provisioning.watch_dns", "schedule": crontab(hour=5, minute=17)},
    # What is past its retention delay (purgedata), and the self-service resets' digest (UTC).
    "data-purge": {"task": "provisioning.purge_data", "schedule": crontab(hour=3, minute=41)},
    "self-service-digest": {
        "task": "memberrequests.self_service_digest",
        "schedule": crontab(hour=6, minute=7),
    },
}

# Provisioning jobs: a step retries with capped backoff until it has failed for
# PROVISIONING_GIVE_UP_AFTER seconds; the smaller tasks (request emails, SMS redaction,
# alerts) retry PROVISIONING_MAX_ATTEMPTS times.
PROVISIONING_GIVE_UP_AFTER = env_int("PROVISIONING_GIVE_UP_AFTER", 24 * 3600)
PROVISIONING_MAX_ATTEMPTS = env_int("PROVISIONING_MAX_ATTEMPTS", 6)
PROVISIONING_RETRY_BACKOFF = env_int("PROVISIONING_RETRY_BACKOFF", 10)  # seconds, doubled each try
PROVISIONING_RETRY_BACKOFF_MAX = env_int("PROVISIONING_RETRY_BACKOFF_MAX", 600)
PROVISIONING_CLAIM_TIMEOUT = env_int("PROVISIONING_CLAIM_TIMEOUT", 300)  # seconds
PROVISIONING_QUEUED_GRACE = env_int("PROVISIONING_QUEUED_GRACE", 120)  # seconds
# A worker that finds other jobs due claims up to this many in one statement (1: no batches),
# and sends their SMS over at most SMS_CONCURRENCY connections at once.
PROVISIONING_BATCH_SIZE = env_int("PROVISIONING_BATCH_SIZE", 25)
# Days a deleted mailbox (refused at once) keeps its member's data before it is erased
# (provisioning.erasure; invariant 7).
MEMBER_RETENTION_DAYS = env_int("MEMBER_RETENTION_DAYS", 30)
if MEMBER_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("MEMBER_RETENTION_DAYS must be 0 or more days")


def _retention_days(name: str, default: int) -> int:
    days = env_int(name, default)
    if days < 1:
        raise ImproperlyConfigured(f"{name} must be 1 or more days")
    return days


# Days before `purgedata` (a daily beat task) erases what no longer serves (invariant 7).
RETENTION_UNCONFIRMED_REQUESTS_DAYS = _retention_days("RETENTION_UNCONFIRMED_REQUESTS_DAYS", 7)
RETENTION_HANDLED_REQUESTS_DAYS = _retention_days("RETENTION_HANDLED_REQUESTS_DAYS", 90)
RETENTION_IMPORTS_DAYS = _retention_days("RETENTION_IMPORTS_DAYS", 90)
RETENTION_ACCESS_LOGS_DAYS = _retention_days("RETENTION_ACCESS_LOGS_DAYS", 90)
RETENTION_SMS_EVENTS_DAYS = _retention_days("RETENTION_SMS_EVENTS_DAYS", 90)
RETENTION_JOB_ERRORS_DAYS = _retention_days("RETENTION_JOB_ERRORS_DAYS", 90)
# Forgotten passwords sent without approval (Domain.self_service_reset): at most this many
# per mailbox in 24 hours; beyond, the request waits in the approval queue.
SELF_SERVICE_RESETS_PER_DAY = env_int("SELF_SERVICE_RESETS_PER_DAY", 3)
if SELF_SERVICE_RESETS_PER_DAY < 0:
    raise ImproperlyConfigured("SELF_SERVICE_RESETS_PER_DAY must be 0 or more")

# SMS
SMS_BACKEND = env_str("SMS_BACKEND", "provisioning.sms.console.SmsBackend")
SMS_FILE_PATH = env_str("SMS_FILE_PATH", str(VAR_DIR / "sms"))
SMS_TIMEOUT = env_int("SMS_TIMEOUT", 10)
SMS_CONCURRENCY = env_int("SMS_CONCURRENCY", 8)  # SMS of one batch sent at once, per process
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN")
TWILIO_FROM = env_str("TWILIO_FROM")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID")
TWILIO_API_BASE_URL = env_str("TWILIO_API_BASE_URL")
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
DNS_NAMESERVERS = env_list("DNS_NAMESERVERS")
DNS_TIMEOUT = env_int("DNS_TIMEOUT", 3)  # seconds, for one server's answer
DNS_LIFETIME = env_int("DNS_LIFETIME", 6)  # seconds, for one query, retries included

# Email: EMAIL_URL (smtp://user:pass@host:587/?tls=True, file:///dir) or Django's EMAIL_*
# variables; an unknown scheme stops the start-up.
_email = env_email_url("EMAIL_URL")
if _email:
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
else:
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
    EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
    EMAIL_PORT = env_int("EMAIL_PORT", 25)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = _email.get("EMAIL_TIMEOUT") or env_int("EMAIL_TIMEOUT", 10)
# Where the filebased backend writes (development): file:///dir in EMAIL_URL, or this.
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or env_str(
    "EMAIL_FILE_PATH", str(VAR_DIR / "emails")
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Octopus-Soignies <admin@octopus-soignies.be>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security: the admin is a vault (see README, "Security") -----------------------------
# Behind a reverse proxy that terminates TLS: how many proxies stand in front of the app.
# Only then are X-Forwarded-For (client IP) and X-Forwarded-Proto (https) believed.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a container's health probe speaks plain HTTP
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
# A short admin session, gone when the browser closes.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],  # the admin's colour hints are style attributes
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Error pages and error emails hide passwords, tokens and credentials (octopus_mail/security.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "octopus_mail.security.ScrubbingExceptionReporterFilter"

# Cache: the rate limits of the public pages and of autodiscover (memberrequests/throttle.py).
# CACHE_URL=redis://[:password@]host[:port][/db] (rediss:// for TLS) is shared by every
# process; the embedded default, locmem://, counts per process (check octopus_mail.W001).
# Seconds to connect to Redis, and to wait for each answer: a dead Redis never hangs a page.
CACHE_SOCKET_TIMEOUT = env_int("CACHE_SOCKET_TIMEOUT", 1)
CACHES = {"default": cache_from_url(env_str("CACHE_URL", "locmem://"), CACHE_SOCKET_TIMEOUT)}

# Second factor (django-otp): the issuer shown by the authenticator app.
OTP_TOTP_ISSUER = "Octopus-Soignies"

# Throttling (django-axes): failed passwords and failed OTP tokens count alike, per (user,
# IP) pair and per IP across users; a lockout lasts AXES_COOLOFF_TIME hours after the last
# failure, or until a superuser lifts it (admin « Tentatives d'accès », `manage.py axes_reset`).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_TIME", 1)
# Never the username alone: then a stranger's five wrong passwords would lock the
# administrator out from everywhere. Both entries share AXES_FAILURE_LIMIT (axes compares
# one limit with the largest count): a higher per-IP limit would give a guesser more tries
# per address across the staff accounts, and spare nobody on that address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = False  # a password alone must not wipe the failed tokens
AXES_CLIENT_IP_CALLABLE = "octopus_mail.security.client_ip"
AXES_USERNAME_CALLABLE = "octopus_mail.security.attempted_username"
AXES_LOCKOUT_CALLABLE = "octopus_mail.security.lockout_response"
AXES_SENSITIVE_PARAMETERS = ["username", "password", "otp_token", "token", "csrfmiddlewaretoken"]

# REST API under /api/v1/ (api/): bearer tokens with scopes, problem+json errors, a rate
# per token counted in the default cache (shared through CACHE_URL).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": "600/minute"},
    "DEFAULT_PARSER_CLASSES": ["api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "octopus-mail API",
    "DESCRIPTION": "Mail accounts of Octopus-Soignies: create, reset, disable, enable, delete, "
    "follow the SMS; aliases: list, create or replace, delete. `Authorization: Bearer TOKEN` "
    "(manage.py createapitoken, or the admin).",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # It logs every request's URL and headers at INFO (never the form body).
        "twilio.http_client": {"level": "WARNING"},
    },
}
