"""Brute force: failed passwords and failed codes lock a user and an IP out, until unlocked."""

from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import RequestFactory, SimpleTestCase, override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, AuditRecord
from octopus_mail.security import attempted_username, client_ip

from .base import (
    ADMIN_PASSWORD,
    OctopusTestCase,
    login_with_otp,
    make_staff_without_device,
    make_verified_admin,
    totp_token,
)

LOGIN_URL = "/admin/login/"
LIST_URL = "/admin/accounts/mailbox/"
LIMIT = settings.AXES_FAILURE_LIMIT


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

    def test_it_locks_the_user_out_from_another_ip_too(self):
        for n in range(LIMIT):
            self.post_login(ip="203.0.113.7", password=f"faux-{n}")
        self.assertEqual(self.full_login(ip="198.51.100.9").status_code, 429)

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
