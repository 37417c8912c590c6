"""The admin is a vault: every admin URL crawled as four personas, production settings,
secrets from files, scrubbed error reports, security headers."""

import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.checks import run_checks
from django.test import RequestFactory, SimpleTestCase, override_settings
from django.urls import URLPattern, reverse
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Mailbox

from .base import (
    ADMIN_PASSWORD,
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_staff_without_device,
    make_verified_admin,
)

ROOT = Path(__file__).resolve().parents[1]
LOCMEM_CACHE = "django.core.cache.backends.locmem.LocMemCache"
# What no one but a verified administrator may ever read.
DATA = ["Pierre Dupont", "pierre@example.org", "+32470123456", "+32 470", "octopus-soignies.be"]
ID_CONVERTER = re.compile(r"<(?:\w+:)?\w+>")  # object_id, id: every argument is the object


def admin_urls() -> list[str]:
    """Every GET-able URL of the admin site, each registered model's with a real object."""
    site = admin.site
    urls = [reverse("admin:index"), reverse("admin:password_change"),
            reverse("admin:password_change_done"), reverse("admin:jsi18n"),
            reverse("admin:autocomplete")]  # fmt: skip
    mailbox = Mailbox.objects.first()
    content_type = ContentType.objects.get_for_model(Mailbox)
    urls.append(reverse("admin:view_on_site", args=[content_type.pk, mailbox.pk]))
    for model, model_admin in site._registry.items():
        opts = model._meta
        urls.append(reverse("admin:app_list", kwargs={"app_label": opts.app_label}))
        obj = model._default_manager.order_by("pk").first()
        prefix = f"/admin/{opts.app_label}/{opts.model_name}/"
        for pattern in model_admin.get_urls():
            assert isinstance(pattern, URLPattern), pattern
            route = str(pattern.pattern)
            route = ID_CONVERTER.sub(str(obj.pk if obj else 1), route)
            assert "<" not in route, f"unexpected converter in {prefix}{route}"
            urls.append(prefix + route)
    return sorted(set(urls))


@override_settings(DNS_NAMESERVERS=["127.0.0.1:9"], DNS_TIMEOUT=1, DNS_LIFETIME=1)
class AdminCrawlTests(OctopusTestCase):
    """Only a staff member verified by a second factor sees anything of the admin."""

    def setUp(self):
        super().setUp()
        deliver(create_pierre())
        Group.objects.create(name="bureau")
        self.admin, static, tokens = make_verified_admin()
        # One of each record the admin lists: a login (audit, axes), a failed one.
        login_with_otp(self.client, self.admin, static, tokens[0])
        self.client.logout()
        self.client.post("/admin/login/", {"username": "claire", "password": "faux"})
        self.assertTrue(AccessAttempt.objects.exists())
        self.urls = admin_urls()
        self.assertGreater(len(self.urls), 60)

    def assertNothingShown(self, client, allowed_targets):
        for url in self.urls:
            with self.subTest(url=url):
                response = client.get(url)
                self.assertEqual(response.status_code, 302, url)
                self.assertTrue(
                    response["Location"].startswith(allowed_targets), response["Location"]
                )
                body = response.content.decode()
                for marker in DATA:
                    self.assertNotIn(marker, body)
                # Following the redirect leads to a login or enrolment page, still no data.
                final = client.get(response["Location"], follow=True)
                for marker in DATA:
                    self.assertNotIn(marker, final.content.decode())

    def test_it_shows_nothing_to_an_anonymous_visitor(self):
        self.assertNothingShown(self.client_class(), ("/admin/login/",))

    def test_it_shows_nothing_to_a_staff_member_with_a_password_only(self):
        client = self.client_class()
        marc = make_staff_without_device()
        response = client.post(
            "/admin/login/", {"username": marc.username, "password": ADMIN_PASSWORD}
        )
        self.assertTrue(response["Location"].startswith("/admin/second-facteur/"))
        self.assertNothingShown(client, ("/admin/login/",))

    def test_it_shows_nothing_to_a_staff_member_with_a_device_but_no_code_yet(self):
        client = self.client_class()
        response = client.post("/admin/login/", {"username": "claire", "password": ADMIN_PASSWORD})
        self.assertTrue(response["Location"].startswith("/admin/login/"))
        self.assertNothingShown(client, ("/admin/login/",))

    def test_it_shows_nothing_to_a_user_who_is_not_staff_even_with_a_device(self):
        client = self.client_class()
        user = get_user_model().objects.create_user("jeanne", password=ADMIN_PASSWORD)
        device = TOTPDevice.objects.create(user=user, name="téléphone", confirmed=True)
        response = client.post(
            "/admin/login/",
            {"username": "jeanne", "password": ADMIN_PASSWORD,
             "otp_device": device.persistent_id, "otp_token": "123456"},
        )  # fmt: skip
        self.assertEqual(response.status_code, 200)  # refused: not a staff account
        client.force_login(user)
        session = client.session
        session["otp_device_id"] = device.persistent_id  # even a verified session
        session.save()
        self.assertNothingShown(client, ("/admin/login/",))
        self.assertEqual(client.get("/admin/second-facteur/").status_code, 302)

    def test_it_shows_the_admin_to_a_verified_staff_member(self):
        client = self.client_class()
        marc, static, tokens = make_verified_admin("marc")
        login_with_otp(client, marc, static, tokens[0])
        seen = set()
        for url in self.urls:
            with self.subTest(url=url):
                response = client.get(url)
                # 404: a model with no row yet, or no public page (view on site).
                self.assertIn(response.status_code, {200, 302, 403, 404, 405}, url)
                if response.status_code == 302:
                    self.assertFalse(response["Location"].startswith("/admin/login/"), url)
                if response.status_code == 200:
                    seen.add(url)
        self.assertIn("/admin/", seen)
        self.assertIn("/admin/audit/auditrecord/", seen)
        self.assertContains(client.get("/admin/accounts/member/"), "Pierre Dupont")
        self.assertContains(client.get("/admin/accounts/mailbox/"), "pierre@octopus-soignies.be")


PRODUCTION_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_ALLOWED_HOSTS": "admin.octopus-soignies.be",
    "SMS_BACKEND": "provisioning.sms.twilio.SmsBackend",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_FROM": "OCTOPUS",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "CACHE_URL": "redis://127.0.0.1:6379/1",
    "TRUSTED_PROXY_COUNT": "1",
}


def manage(*args, **env) -> subprocess.CompletedProcess:
    environment = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SMS_", "TWILIO_", "EMAIL_", "CELERY_"))
    }  # fmt: skip
    environment.update(DJANGO_SETTINGS_MODULE="octopus_mail.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


class ProductionSettingsTests(SimpleTestCase):
    def production(self, **env):
        return {
            **PRODUCTION_ENV,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "TWILIO_AUTH_TOKEN": "fake-twilio-token",
            "EMAIL_URL": "submission://admin%40octopus-soignies.be:fake@octopus-soignies.be:587",
            **env,
        }

    def test_it_passes_check_deploy_with_production_variables(self):
        result = manage("check", "--deploy", "--fail-level", "DEBUG", **self.production())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("System check identified no issues (0 silenced).", result.stdout)

    def test_it_refuses_the_console_email_backend_in_production(self):
        env = self.production(EMAIL_URL="", EMAIL_BACKEND="")
        result = manage("check", **env)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("octopus_mail.E001", result.stderr)

    def test_it_refuses_the_in_memory_email_backend_at_deployment(self):
        env = self.production(
            EMAIL_URL="", EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"
        )
        result = manage("check", "--deploy", **env)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("octopus_mail.E002", result.stderr)

    def test_it_warns_at_deployment_when_the_rate_limits_count_per_process(self):
        result = manage("check", "--deploy", **self.production(CACHE_URL=""))
        self.assertEqual(result.returncode, 0, result.stderr)  # a warning, not an error
        self.assertIn("octopus_mail.W001", result.stderr)
        self.assertIn("CACHE_URL", result.stderr)

    def test_it_reads_every_secret_from_a_file(self):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        values = {
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": "postgresql://octopus:db-secret-1@127.0.0.1:5432/octopus",
            "MAILSERVER_DATABASE_URL": "postgresql://mail:db-secret-2@127.0.0.1:5432/mail",
            "TWILIO_AUTH_TOKEN": "twilio-secret-3",
            "EMAIL_URL": "submission://admin%40octopus-soignies.be:smtp-secret-4@mx.example:587",
            "CELERY_BROKER_URL": "redis://:broker-secret-5@127.0.0.1:6379/0",
            "CACHE_URL": "redis://:cache-secret-7@127.0.0.1:6379/1",
        }
        env = self.production()
        for name, value in values.items():
            (folder / name).write_text(value + "\n")
            env.pop(name, None)
            env[f"{name}_FILE"] = str(folder / name)
        code = (
            "from django.conf import settings as s; print(s.SECRET_KEY); "
            "print(s.DATABASES['default']['PASSWORD']); "
            "print(s.DATABASES['mailserver']['PASSWORD']); print(s.TWILIO_AUTH_TOKEN); "
            "print(s.EMAIL_HOST_PASSWORD); print(s.CELERY_BROKER_URL); "
            "print(s.CACHES['default']['LOCATION'])"
        )
        result = manage("shell", "--no-imports", "-c", code, **env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(
            result.stdout.split(),
            [values["DJANGO_SECRET_KEY"], "db-secret-1", "db-secret-2", "twilio-secret-3",
             "smtp-secret-4", values["CELERY_BROKER_URL"], values["CACHE_URL"]],
        )  # fmt: skip

    def test_it_logs_no_secret_at_start_up(self):
        env = self.production(LOG_LEVEL="DEBUG", EMAIL_HOST_PASSWORD="unused-secret-6")
        result = manage("check", **env)
        output = result.stdout + result.stderr
        for secret in (env["DJANGO_SECRET_KEY"], "fake-twilio-token", "fake@", "unused-secret-6"):
            self.assertNotIn(secret, output)

    def test_it_keeps_sessions_short_and_cookies_secure_in_production(self):
        code = (
            "from django.conf import settings as s; print(s.SESSION_COOKIE_AGE, "
            "s.SESSION_EXPIRE_AT_BROWSER_CLOSE, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.X_FRAME_OPTIONS)"
        )
        result = manage("shell", "--no-imports", "-c", code, **self.production())
        self.assertEqual(
            result.stdout.strip(),
            "3600 True True True True ('HTTP_X_FORWARDED_PROTO', 'https') DENY",
            result.stderr,
        )

    def test_it_believes_no_forwarded_header_without_a_trusted_proxy(self):
        code = "from django.conf import settings as s; print(s.SECURE_PROXY_SSL_HEADER)"
        result = manage(
            "shell", "--no-imports", "-c", code, **self.production(TRUSTED_PROXY_COUNT="0")
        )
        self.assertEqual(result.stdout.strip(), "None", result.stderr)


class SystemCheckTests(SimpleTestCase):
    @override_settings(DEBUG=False, EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend")
    def test_it_refuses_a_console_email_backend_in_production(self):
        self.assertIn("octopus_mail.E001", {m.id for m in run_checks()})

    @override_settings(DEBUG=False, EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
    def test_it_refuses_an_in_memory_email_backend_at_deployment_only(self):
        self.assertNotIn("octopus_mail.E002", {m.id for m in run_checks()})
        deploy = run_checks(include_deployment_checks=True)
        self.assertIn("octopus_mail.E002", {m.id for m in deploy})

    @override_settings(DEBUG=False, CACHES={"default": {"BACKEND": LOCMEM_CACHE}})
    def test_it_warns_of_a_per_process_cache_at_deployment_only(self):
        self.assertNotIn("octopus_mail.W001", {m.id for m in run_checks()})
        deploy = run_checks(include_deployment_checks=True)
        self.assertIn("octopus_mail.W001", {m.id for m in deploy})

    def test_it_is_content_with_redis_or_with_debug(self):
        redis = {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                 "LOCATION": "redis://127.0.0.1:6379/1"}  # fmt: skip
        for debug, backend in [(False, redis), (True, {"BACKEND": LOCMEM_CACHE})]:
            with (
                self.subTest(debug=debug),
                override_settings(DEBUG=debug, CACHES={"default": backend}),
            ):
                deploy = run_checks(include_deployment_checks=True)
                self.assertNotIn("octopus_mail.W001", {m.id for m in deploy})


SECRETS_IN_POST = {
    "username": "claire",
    "password": "Mot-de-passe-tres-secret-1",
    "otp_token": "731904",
    "otp_device": "otp_static.staticdevice/1",
    "token": "backup-code-2",
    "new_password1": "Nouveau-secret-3",
}
AUTHORIZATION = "Basic c2VjcmV0LWF1dGgtNA=="
LOCAL_SECRET = "local-secret-5"
SECRET_SETTINGS = {
    "TWILIO_AUTH_TOKEN": "twilio-secret-6",
    "CELERY_BROKER_URL": "redis://:broker-secret-7@h/0",
    "EMAIL_HOST_PASSWORD": "smtp-secret-8",
    "CACHES": {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://:cache-secret-9@h:6379/1",
        }
    },
}


def request_with_secrets():
    # Built away from the line that raises: the report shows the source around it.
    request = RequestFactory().post("/admin/second-facteur/", SECRETS_IN_POST)
    request.META["HTTP_AUTHORIZATION"] = AUTHORIZATION
    return request


class ErrorReportTests(SimpleTestCase):
    def report(self):
        request = request_with_secrets()
        token = LOCAL_SECRET  # noqa: F841 - a local variable the traceback shows
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            return request, ExceptionReporter(request, *sys.exc_info())

    @override_settings(**SECRET_SETTINGS)
    def test_it_scrubs_passwords_tokens_and_credentials_from_error_pages(self):
        _request, reporter = self.report()
        for text in (reporter.get_traceback_text(), reporter.get_traceback_html()):
            for secret in [*list(SECRETS_IN_POST.values())[1:], "c2VjcmV0LWF1dGgtNA==",
                           LOCAL_SECRET, "twilio-secret-6", "broker-secret-7",
                           "smtp-secret-8", "cache-secret-9"]:  # fmt: skip
                self.assertNotIn(secret, text)
            self.assertIn("claire", text)  # the rest of the report stays useful

    @override_settings(ADMINS=[("Admin", "admin@octopus-soignies.be")], DEBUG=False)
    def test_it_scrubs_the_error_email_too(self):
        request, _reporter = self.report()
        handler = AdminEmailHandler(include_html=True)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            import logging

            record = logging.LogRecord(
                "django.request", logging.ERROR, __file__, 1, "Internal Server Error",
                None, sys.exc_info(),
            )  # fmt: skip
            record.request = request
            handler.emit(record)
        [email] = mail.outbox
        text = email.body + email.alternatives[0][0]
        for secret in list(SECRETS_IN_POST.values())[1:]:
            self.assertNotIn(secret, text)


class SecurityHeaderTests(OctopusTestCase):
    def test_it_sends_csp_and_frame_headers(self):
        response = self.client.get("/admin/login/")
        policy = response["Content-Security-Policy"]
        directives = ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'",
                      "object-src 'none'", "base-uri 'none'", "form-action 'self'"]  # fmt: skip
        for directive in directives:
            self.assertIn(directive, policy)
        self.assertNotIn("unsafe-inline' ;", policy.replace("style-src-attr 'unsafe-inline'", ""))
        self.assertEqual(response["X-Frame-Options"], "DENY")

    @override_settings(
        SECURE_SSL_REDIRECT=True, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")
    )
    def test_it_redirects_to_https_unless_the_proxy_says_https(self):
        response = self.client.get("/admin/login/")
        self.assertEqual(response.status_code, 301)
        self.assertTrue(response["Location"].startswith("https://"))
        response = self.client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
        self.assertEqual(response.status_code, 200)

    def test_it_gives_a_session_cookie_that_ends_with_the_browser(self):
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])
        cookie = self.client.cookies["sessionid"]
        self.assertEqual((cookie["expires"], cookie["max-age"]), ("", ""))
        self.assertTrue(cookie["httponly"])
        self.assertEqual(self.client.session.get_expiry_age(), 3600)
