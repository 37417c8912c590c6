"""Test settings: PostgreSQL for both databases when it is there (always in CI), test doubles.

A laptop without PostgreSQL falls back to SQLite, loudly; in CI (CI=true) a missing
PostgreSQL fails the run instead.
"""

import os
import socket
import sys

os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-secret-key")

import dj_database_url  # noqa: E402

from octopus_mail.settings import *  # noqa: E402,F403
from octopus_mail.settings import DATABASES  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = "postgresql://postgres@127.0.0.1:5432/{name}"


def _postgres_listening() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


if "DATABASE_URL" not in os.environ:
    if IN_CI or _postgres_listening():
        DATABASES = {
            "default": dj_database_url.parse(PG_URL.format(name="octopus")),
            "mailserver": dj_database_url.parse(PG_URL.format(name="octopus_mailserver")),
        }
    else:
        print(
            "\n*** PostgreSQL is not listening on 127.0.0.1:5432: tests run on SQLite ***\n",
            file=sys.stderr,
        )
        DATABASES = {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            "mailserver": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
        }

# MariaDB as a second mail-server database, for the tests that run against both engines.
MARIADB_URL = os.environ.get("TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/octopus_mailserver")
DATABASES["mailserver_mariadb"] = dj_database_url.parse(MARIADB_URL)

DEBUG = False
SMS_BACKEND = "provisioning.sms.locmem.SmsBackend"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Messages go to an in-memory broker that nobody consumes; tests run tasks by hand, or start
# a real worker on Redis (tests/test_worker.py). Never eager: it changes retry semantics.
CELERY_BROKER_URL = "memory://"
# Celery reads these from the environment before its settings: an exported CELERY_BROKER_URL
# would send every test's messages to that broker.
for _name in ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL"):
    os.environ.pop(_name, None)
CELERY_TASK_ALWAYS_EAGER = False
# The rate limits count in this process's memory, whatever CACHE_URL says: tests clear the
# cache, which on Redis would flush a whole database. tests/test_throttling.py starts its
# own processes on Redis.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# The test client speaks plain HTTP; tests/test_security.py checks the redirect itself.
SECURE_SSL_REDIRECT = False
