"""Attacks on the admin's way in (issue #12): each test replays one as it was reported."""

from axes.models import AccessAttempt
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, AuditRecord

from .base import ADMIN_PASSWORD, OctopusTestCase, make_verified_admin, totp_token

LOGIN_URL = "/admin/login/"
LIST_URL = "/admin/accounts/mailbox/"
STRANGER_IP = "203.0.113.7"
ADMIN_IP = "198.51.100.9"


class StrangerLockoutTests(OctopusTestCase):
    """#12 item 3: five wrong passwords for `claire` from one IP locked her out everywhere."""

    def setUp(self):
        super().setUp()
        self.user, _static, _tokens = make_verified_admin()
        self.phone = TOTPDevice.objects.get(user=self.user)

    def post_login(self, client, ip, **data):
        fields = {"username": self.user.username, "password": ADMIN_PASSWORD, **data}
        return client.post(LOGIN_URL, fields, REMOTE_ADDR=ip)

    def full_login(self, client, ip):
        code = totp_token(self.phone)
        return self.post_login(client, ip, otp_device=self.phone.persistent_id, otp_token=code)

    def test_it_lets_the_administrator_in_from_another_ip_after_a_stranger_locked_her_name(self):
        stranger = self.client_class()
        for n in range(settings.AXES_FAILURE_LIMIT):
            response = self.post_login(stranger, STRANGER_IP, password=f"faux-{n}")
        self.assertEqual(response.status_code, 429)
        # The stranger's address stays locked, even with the right password and code.
        self.assertEqual(self.full_login(stranger, STRANGER_IP).status_code, 429)

        response = self.full_login(self.client, ADMIN_IP)
        self.assertRedirects(response, "/admin/", fetch_redirect_response=False)
        self.assertEqual(self.client.get(LIST_URL).status_code, 200)
        # The lockout is still recorded, against the stranger's address.
        records = AuditRecord.objects.filter(action=Action.LOCKOUT)
        self.assertEqual({(r.target, r.ip) for r in records}, {("claire", STRANGER_IP)})
        self.assertEqual(AccessAttempt.objects.get().ip_address, STRANGER_IP)

    def test_it_still_locks_one_ip_that_tries_many_names(self):
        for n in range(settings.AXES_FAILURE_LIMIT):
            self.post_login(self.client, STRANGER_IP, username=f"inconnu{n}", password="x")
        self.assertEqual(self.full_login(self.client, STRANGER_IP).status_code, 429)
        records = AuditRecord.objects.filter(action=Action.LOCKOUT)
        self.assertEqual({r.ip for r in records}, {STRANGER_IP})


class SessionFixationTests(OctopusTestCase):
    """#12 item 9: the session key from before the second factor stayed valid after it."""

    def test_it_refuses_the_session_key_from_before_the_code_once_the_code_is_given(self):
        user, _static, _tokens = make_verified_admin()
        phone = TOTPDevice.objects.get(user=user)
        self.client.post(LOGIN_URL, {"username": "claire", "password": ADMIN_PASSWORD})
        before = self.client.cookies["sessionid"].value  # e.g. seen on a shared computer

        response = self.client.post(
            LOGIN_URL, {"otp_device": phone.persistent_id, "otp_token": totp_token(phone)}
        )
        self.assertEqual(response.status_code, 302)
        self.assertEqual(self.client.get(LIST_URL).status_code, 200)
        self.assertNotEqual(self.client.cookies["sessionid"].value, before)

        thief = self.client_class()
        thief.cookies["sessionid"] = before
        response = thief.get(LIST_URL)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith(LOGIN_URL))
