"""Configuration fails loudly: strict environment parsing, start-up errors and system checks."""

import os
import subprocess
import sys
from pathlib import Path

from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import SimpleTestCase, override_settings

from octopus_mail.env import env_bool, env_email_url, env_int, env_str

ROOT = Path(__file__).resolve().parents[1]


class EnvironmentTests(SimpleTestCase):
    def setUp(self):
        self.saved = dict(os.environ)

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved)

    def test_it_refuses_a_boolean_it_cannot_read(self):
        os.environ["X_FLAG"] = "sometimes"
        with self.assertRaisesMessage(ImproperlyConfigured, "X_FLAG must be true or false"):
            env_bool("X_FLAG", False)

    def test_it_reads_the_usual_booleans(self):
        for raw, expected in [("true", True), ("0", False), ("Yes", True), ("off", False)]:
            os.environ["X_FLAG"] = raw
            self.assertIs(env_bool("X_FLAG", not expected), expected)

    def test_it_refuses_an_integer_it_cannot_read(self):
        os.environ["X_COUNT"] = "12s"
        with self.assertRaisesMessage(ImproperlyConfigured, "X_COUNT must be a whole number"):
            env_int("X_COUNT", 1)

    def test_it_reads_a_secret_from_a_file(self):
        secret = ROOT / "var" / "test-secret"
        secret.parent.mkdir(exist_ok=True)
        secret.write_text("s3cret\n")
        self.addCleanup(secret.unlink)
        os.environ["X_TOKEN_FILE"] = str(secret)
        self.assertEqual(env_str("X_TOKEN"), "s3cret")

    def test_it_reads_an_absolute_directory_from_a_file_email_url(self):
        os.environ["X_EMAIL_URL"] = "file:///var/spool/octopus%20mails"
        email = env_email_url("X_EMAIL_URL")
        self.assertEqual(email["EMAIL_BACKEND"], "django.core.mail.backends.filebased.EmailBackend")
        self.assertEqual(email["EMAIL_FILE_PATH"], "/var/spool/octopus mails")

    def test_it_reads_an_smtp_email_url_without_a_file_path(self):
        os.environ["X_EMAIL_URL"] = "submission://user:pa%40ss@smtp.example.org"
        email = env_email_url("X_EMAIL_URL")
        self.assertEqual((email["EMAIL_HOST"], email["EMAIL_PORT"]), ("smtp.example.org", 587))
        self.assertEqual((email["EMAIL_HOST_PASSWORD"], email["EMAIL_USE_TLS"]), ("pa@ss", True))
        self.assertEqual(email["EMAIL_FILE_PATH"], "")

    def test_it_gives_nothing_for_an_unset_email_url(self):
        os.environ.pop("X_EMAIL_URL", None)
        self.assertEqual(env_email_url("X_EMAIL_URL"), {})

    def test_it_refuses_an_email_url_it_cannot_read_without_showing_the_password(self):
        for url in ("smtp://u:s3cret@[::1", "sendgrid://u:s3cret@x", "u:s3cret@x"):
            os.environ["X_EMAIL_URL"] = url
            with self.subTest(url=url), self.assertRaises(ImproperlyConfigured) as caught:
                env_email_url("X_EMAIL_URL")
            self.assertIn("X_EMAIL_URL", str(caught.exception))
            self.assertNotIn("s3cret", str(caught.exception))


class StartupTests(SimpleTestCase):
    def manage_check(self, **env):
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "octopus_mail.settings", **env}
        return subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def test_it_refuses_to_start_with_an_unknown_hash_scheme(self):
        result = self.manage_check(DJANGO_DEBUG="true", MAILSERVER_PASSWORD_SCHEME="PLAIN")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("MAILSERVER_PASSWORD_SCHEME='PLAIN' is not supported", result.stderr)

    def test_it_requires_a_secret_key_in_production(self):
        result = self.manage_check(DJANGO_DEBUG="false", DJANGO_SECRET_KEY="")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("DJANGO_SECRET_KEY is required", result.stderr)

    def test_it_starts_on_the_embedded_defaults(self):
        env = {k: "" for k in ("DATABASE_URL", "MAILSERVER_DATABASE_URL", "SMS_BACKEND")}
        result = self.manage_check(DJANGO_DEBUG="true", DJANGO_SECRET_KEY="", **env)
        self.assertEqual(result.returncode, 0, result.stderr)


class SystemCheckTests(SimpleTestCase):
    def ids(self):
        return {message.id for message in run_checks()}

    @override_settings(DEBUG=False, SMS_BACKEND="provisioning.sms.console.SmsBackend")
    def test_it_refuses_a_console_sms_backend_in_production(self):
        self.assertIn("provisioning.E003", self.ids())

    @override_settings(DEBUG=False, SMS_BACKEND="provisioning.sms.filebased.SmsBackend")
    def test_it_refuses_a_file_sms_backend_in_production(self):
        self.assertIn("provisioning.E003", self.ids())

    @override_settings(
        SMS_BACKEND="provisioning.sms.twilio.SmsBackend",
        TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="", TWILIO_FROM="",
        TWILIO_MESSAGING_SERVICE_SID="",
    )  # fmt: skip
    def test_it_refuses_twilio_without_credentials_or_sender(self):
        self.assertTrue({"provisioning.E004", "provisioning.E005"} <= self.ids())

    @override_settings(SMS_BACKEND="provisioning.sms.carrier_pigeon.SmsBackend")
    def test_it_refuses_an_sms_backend_that_does_not_import(self):
        self.assertIn("provisioning.E002", self.ids())

    @override_settings(SMS_TIMEOUT=0)
    def test_it_refuses_an_sms_call_without_a_timeout(self):
        self.assertIn("provisioning.E008", self.ids())

    @override_settings(MAILSERVER_SCHEMA="vpopmail")
    def test_it_refuses_an_unknown_mail_table_schema(self):
        self.assertIn("provisioning.E006", self.ids())

    @override_settings(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")
    def test_it_passes_rabbitmq_with_the_default_delays(self):
        self.assertNotIn("provisioning.W004", self.ids())

    @override_settings(
        CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//",
        PROVISIONING_RETRY_BACKOFF_MAX=1600, PROVISIONING_CLAIM_TIMEOUT=300,
    )  # fmt: skip
    def test_it_warns_when_a_retry_outlasts_rabbitmqs_consumer_timeout(self):
        self.assertIn("provisioning.W004", self.ids())
        with override_settings(RABBITMQ_CONSUMER_TIMEOUT=3600):
            self.assertNotIn("provisioning.W004", self.ids())
        with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/0"):
            self.assertNotIn("provisioning.W004", self.ids())

    def test_it_passes_with_the_test_configuration(self):
        self.assertFalse({i for i in self.ids() if i.startswith("provisioning.E")})
