"""Brute force: failed passwords and failed codes lock a (user, IP) pair and an IP out, until
unlocked; the public pages' rate limits, shared by every process."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

from axes.models import AccessAttempt
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import RequestFactory, SimpleTestCase, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, AuditRecord
from memberrequests import throttle
from octopus_mail.env import cache_from_url
from octopus_mail.security import attempted_username, client_ip

from .base import (
    ADMIN_PASSWORD,
    OctopusTestCase,
    login_with_otp,
    make_staff_without_device,
    make_verified_admin,
    totp_token,
)
from .services import require

ROOT = Path(__file__).resolve().parents[1]
LOGIN_URL = "/admin/login/"
LIST_URL = "/admin/accounts/mailbox/"
PASSWORD_URL = "/demande/mot-de-passe/"
LIMIT = settings.AXES_FAILURE_LIMIT
# Not tests.services.REDIS_URL (database 15): the worker test flushes that one.
CACHE_REDIS_URL = os.environ.get("TEST_CACHE_REDIS_URL", "redis://127.0.0.1:6379/14")


class ThrottlingTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.user, self.static, self.tokens = make_verified_admin()
        self.phone = TOTPDevice.objects.get(user=self.user)

    def post_login(self, client=None, ip="127.0.0.1", **data):
        client = client or self.client
        fields = {"username": self.user.username, "password": ADMIN_PASSWORD, **data}
        return client.post(LOGIN_URL, fields, REMOTE_ADDR=ip)

    def full_login(self, client=None, ip="127.0.0.1"):
        return self.post_login(
            client, ip, otp_device=self.phone.persistent_id, otp_token=totp_token(self.phone)
        )

    def test_it_locks_a_user_out_after_n_failed_passwords(self):
        self.assertEqual(LIMIT, 5)
        for n in range(LIMIT - 1):
            self.assertEqual(self.post_login(password=f"faux-{n}").status_code, 200)
        response = self.post_login(password="faux-dernier")
        self.assertEqual(response.status_code, 429)
        self.assertContains(response, "Connexion bloquée", status_code=429)
        self.assertContains(response, "superutilisateur", status_code=429)
        # Even the right password and code are refused now.
        response = self.full_login()
        self.assertEqual(response.status_code, 429)
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_counts_failed_codes_after_a_right_password(self):
        for _ in range(LIMIT):
            response = self.post_login(otp_device=self.phone.persistent_id, otp_token="12345")
        self.assertEqual(response.status_code, 429)
        self.assertEqual(self.full_login().status_code, 429)

    def test_it_counts_failed_codes_at_the_token_step_and_logs_the_session_out(self):
        self.post_login()  # password only: the token step comes next
        for n in range(LIMIT):
            response = self.client.post(
                LOGIN_URL, {"otp_device": self.phone.persistent_id, "otp_token": f"00000{n}"}
            )
        self.assertEqual(response.status_code, 429)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_counts_failed_codes_at_the_enrolment_of_a_first_device(self):
        marc = make_staff_without_device()
        self.client.post(LOGIN_URL, {"username": marc.username, "password": ADMIN_PASSWORD})
        for n in range(LIMIT):
            response = self.client.post("/admin/second-facteur/", {"otp_token": f"00000{n}"})
        self.assertEqual(response.status_code, 429)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertFalse(TOTPDevice.objects.filter(user=marc, confirmed=True).exists())

    def test_it_locks_an_ip_out_whatever_the_username(self):
        for n in range(LIMIT):
            self.post_login(ip="203.0.113.7", username=f"inconnu{n}")
        self.assertEqual(self.full_login(ip="203.0.113.7").status_code, 429)
        # Claire herself, from elsewhere, still gets in: the lock was on the IP.
        self.assertEqual(
            self.full_login(client=self.client_class(), ip="198.51.100.9").status_code, 302
        )

    def test_it_unlocks_with_the_axes_reset_command(self):
        for n in range(LIMIT):
            self.post_login(password=f"faux-{n}")
        self.assertEqual(self.full_login().status_code, 429)
        call_command("axes_reset", verbosity=0)
        self.assertEqual(self.full_login().status_code, 302)
        self.assertEqual(self.client.get(LIST_URL).status_code, 200)

    def test_it_lets_a_superuser_unlock_through_the_admin_and_records_it(self):
        for n in range(LIMIT):
            self.post_login(ip="203.0.113.7", password=f"faux-{n}")
        admin_client = self.client_class()
        other, static, tokens = make_verified_admin("marc")
        login_with_otp(admin_client, other, static, tokens[0])
        attempts = list(AccessAttempt.objects.values_list("pk", flat=True))
        self.assertEqual(len(attempts), 1)
        response = admin_client.post(
            "/admin/axes/accessattempt/",
            {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
        )
        self.assertEqual(response.status_code, 302)
        self.assertFalse(AccessAttempt.objects.exists())
        record = AuditRecord.objects.get(action=Action.UNLOCK)
        self.assertEqual((record.actor, record.target), (other, "claire"))
        self.assertEqual(self.full_login(ip="203.0.113.7").status_code, 302)

    def test_it_keeps_no_password_or_code_in_the_attempts(self):
        for n in range(LIMIT):
            self.post_login(password=f"faux-{n}", otp_device=self.static.persistent_id,
                            otp_token=f"code-{n}")  # fmt: skip
        stored = repr(list(AccessAttempt.objects.values()))
        for n in range(LIMIT):
            self.assertNotIn(f"faux-{n}", stored)
            self.assertNotIn(f"code-{n}", stored)

    def test_it_keeps_a_password_typed_as_username_only_as_a_digest(self):
        self.post_login(username=ADMIN_PASSWORD, password="x")
        [attempt] = AccessAttempt.objects.all()
        self.assertTrue(attempt.username.startswith("inconnu-"))
        self.assertNotIn(ADMIN_PASSWORD, repr(list(AccessAttempt.objects.values())))


class ClientIpTests(SimpleTestCase):
    def request(self, forwarded=None):
        extra = {"REMOTE_ADDR": "10.0.0.2"}
        if forwarded is not None:
            extra["HTTP_X_FORWARDED_FOR"] = forwarded
        return RequestFactory().get("/admin/login/", **extra)

    @override_settings(TRUSTED_PROXY_COUNT=0)
    def test_it_ignores_x_forwarded_for_without_a_trusted_proxy(self):
        self.assertEqual(client_ip(self.request("203.0.113.7")), "10.0.0.2")

    @override_settings(TRUSTED_PROXY_COUNT=1)
    def test_it_takes_the_address_the_trusted_proxy_saw(self):
        # The client forged the first entry; the proxy appended the address it really saw.
        self.assertEqual(client_ip(self.request("1.2.3.4, 203.0.113.7")), "203.0.113.7")

    @override_settings(TRUSTED_PROXY_COUNT=2)
    def test_it_counts_the_proxies_from_the_right(self):
        self.assertEqual(client_ip(self.request("1.2.3.4, 203.0.113.7, 10.0.0.9")), "203.0.113.7")

    @override_settings(TRUSTED_PROXY_COUNT=1)
    def test_it_falls_back_to_the_peer_on_a_missing_or_garbled_header(self):
        self.assertEqual(client_ip(self.request()), "10.0.0.2")
        self.assertEqual(client_ip(self.request("not-an-ip")), "10.0.0.2")


class AttemptedUsernameTests(OctopusTestCase):
    def test_it_keeps_a_known_username_and_hides_an_unknown_one(self):
        make_verified_admin()
        self.assertEqual(attempted_username(None, {"username": "claire"}), "claire")
        hidden = attempted_username(None, {"username": "Claire-admin-2026!"})
        self.assertTrue(hidden.startswith("inconnu-"))
        self.assertNotIn("Claire", hidden)


# One application process: Django with CACHE_URL, posting the forgotten-password form from
# one client IP when the parent says go. An address with a space is refused by the form,
# after the per-IP count and before any database access (the database does not exist).
POSTING_PROCESS = """
import sys
import django
django.setup()
from django.test import Client
client, (url, ip, count) = Client(), sys.argv[1:]
print("ready", flush=True)
sys.stdin.readline()
codes = [client.post(url, {"address": "pierre dupont"}, REMOTE_ADDR=ip).status_code
         for _ in range(int(count))]
print(*codes, flush=True)
"""


class SharedRateLimitTests(SimpleTestCase):
    """#12 item 4: each gunicorn worker counted on its own, so the limit multiplied."""

    def setUp(self):
        parts = urlsplit(CACHE_REDIS_URL)
        require("Redis", parts.hostname, parts.port or 6379)
        self.redis = RedisCache(CACHE_REDIS_URL, {})
        # An address of its own: two runs of this test at once do not share a counter.
        self.ip = f"2001:db8::{os.getpid():x}"
        self.key = throttle.throttle_key("password-ip", self.ip)
        self.redis.delete(self.key)
        self.addCleanup(self.redis.delete, self.key)

    def start_process(self, count: int) -> subprocess.Popen:
        environment = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CACHE_", "DATABASE_", "MAILSERVER_", "SECURE_"))
        }  # fmt: skip
        environment.update(
            DJANGO_SETTINGS_MODULE="octopus_mail.settings", DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="tests-only-secret-key", DJANGO_ALLOWED_HOSTS="testserver",
            SECURE_SSL_REDIRECT="false", CACHE_URL=CACHE_REDIS_URL,
            DATABASE_URL="sqlite:////nonexistent/app.sqlite3",
            MAILSERVER_DATABASE_URL="sqlite:////nonexistent/mailserver.sqlite3",
        )  # fmt: skip
        process = subprocess.Popen(
            [sys.executable, "-c", POSTING_PROCESS, PASSWORD_URL, self.ip, str(count)],
            cwd=ROOT, env=environment, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.addCleanup(process.kill)
        return process

    def test_it_holds_the_public_form_limit_across_two_processes(self):
        attempts, _window = throttle.PER_IP
        processes = [self.start_process(attempts) for _ in range(2)]
        for process in processes:
            if process.stdout.readline().strip() != "ready":
                self.fail(process.communicate(timeout=60)[1])
        for process in processes:  # both post at the same time
            process.stdin.write("go\n")
            process.stdin.flush()
        codes = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            self.assertEqual(process.returncode, 0, err)
            codes += [int(code) for code in out.split()]
        self.assertEqual(len(codes), 2 * attempts)
        self.assertEqual(set(codes), {200, 429}, codes)
        self.assertEqual(codes.count(200), attempts)
        self.assertEqual(self.redis.get(self.key), 2 * attempts)


class SilentServer:
    """A TCP server that accepts connections and never answers: a hung Redis."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.socket.getsockname()[1]}/0"
        self.accepted = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                self.accepted.append(self.socket.accept()[0])
            except OSError:
                return

    def close(self):
        for connection in self.accepted:
            connection.close()
        self.socket.close()


class CacheOutageTests(OctopusTestCase):
    """Redis gone during a request: the page still answers, the limit counts per process."""

    def setUp(self):
        super().setUp()
        self.enterContext(mock.patch.object(throttle, "_shared_cache_down_until", 0.0))
        throttle._fallback.clear()

    def post(self, ip="192.0.2.44"):
        return self.client.post(PASSWORD_URL, {"address": "pierre dupont"}, REMOTE_ADDR=ip)

    def test_it_counts_in_the_process_when_redis_refuses_connections(self):
        dead = socket.create_server(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        dead.close()  # nothing listens there any more
        attempts, _window = throttle.PER_IP
        with override_settings(CACHES={"default": cache_from_url(f"redis://127.0.0.1:{port}/0")}):
            with self.assertLogs("memberrequests.throttle", "ERROR") as logs:
                for _ in range(attempts):
                    self.assertEqual(self.post().status_code, 200)
                response = self.post()
        self.assertContains(response, "Trop de demandes", status_code=429)
        self.assertNotIn("Traceback", response.content.decode())
        self.assertEqual(len(logs.records), 1)  # once per outage, not once per request
        self.assertIn("Shared cache unreachable", logs.output[0])

    def test_it_waits_for_a_hung_redis_no_longer_than_its_timeout(self):
        server = SilentServer()
        self.addCleanup(server.close)
        with override_settings(CACHES={"default": cache_from_url(server.url)}):
            with self.assertLogs("memberrequests.throttle", "ERROR"):
                started = time.monotonic()
                self.assertEqual(self.post().status_code, 200)
                first = time.monotonic() - started
                started = time.monotonic()
                self.assertEqual(self.post().status_code, 200)
                second = time.monotonic() - started
        self.assertLess(first, settings.CACHE_SOCKET_TIMEOUT + 2)
        self.assertLess(second, 0.5)  # Redis is left alone for a while


class CacheUrlTests(SimpleTestCase):
    def test_it_reads_redis_urls_with_socket_timeouts(self):
        for url in ("redis://127.0.0.1:6379/1", "rediss://:secret@cache.example:6380/2",
                    "redis://cache.example"):  # fmt: skip
            with self.subTest(url=url):
                config = cache_from_url(url)
                self.assertEqual(config["BACKEND"], "django.core.cache.backends.redis.RedisCache")
                self.assertEqual(config["LOCATION"], url)
                self.assertEqual(
                    config["OPTIONS"],
                    {"socket_connect_timeout": settings.CACHE_SOCKET_TIMEOUT,
                     "socket_timeout": settings.CACHE_SOCKET_TIMEOUT},
                )  # fmt: skip

    def test_it_keeps_local_memory_as_the_default(self):
        config = cache_from_url("locmem://")
        self.assertEqual(config["BACKEND"], "django.core.cache.backends.locmem.LocMemCache")

    def test_it_refuses_an_unknown_scheme_naming_the_accepted_ones(self):
        for url in ("memcached://127.0.0.1:11211", "127.0.0.1:6379", "redis+sentinel://h"):
            with self.subTest(url=url):
                with self.assertRaisesMessage(
                    ImproperlyConfigured, "accepted: redis://, rediss://, locmem://"
                ):
                    cache_from_url(url)

    def test_it_refuses_a_malformed_redis_url_without_repeating_the_password(self):
        for url in ("redis://:hunter2@h:99999/1", "redis://:hunter2@h/one",
                    "redis://:hunter2@h/1?ssl_cert_reqs=none", "redis://:hunter2@/1"):  # fmt: skip
            with self.subTest(url=url):
                with self.assertRaises(ImproperlyConfigured) as raised:
                    cache_from_url(url)
                self.assertIn("CACHE_URL: expected redis://", str(raised.exception))
                self.assertNotIn("hunter2", str(raised.exception))

    def test_it_stops_at_start_up_on_a_bad_cache_url(self):
        environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHE_")}
        environment.update(DJANGO_SETTINGS_MODULE="octopus_mail.settings",
                           CACHE_URL="memcached://127.0.0.1:11211")  # fmt: skip
        result = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("CACHE_URL: unknown scheme memcached://", result.stderr)
