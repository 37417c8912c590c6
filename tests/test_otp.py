"""The second factor: enrolment of a first device, the token step, reuse, reset."""

import io
import os
import re
from unittest import mock

from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, AuditRecord

from .base import (
    ADMIN_PASSWORD,
    OctopusTestCase,
    login_with_otp,
    make_staff_without_device,
    make_verified_admin,
    totp_token,
)

LOGIN_URL = "/admin/login/"
ENROL_URL = "/admin/second-facteur/"
LIST_URL = "/admin/accounts/mailbox/"
CODE = re.compile(r"<li><code>([a-z0-9]{8})</code></li>")


def password_step(client, username: str, password: str = ADMIN_PASSWORD):
    return client.post(LOGIN_URL, {"username": username, "password": password, "next": "/admin/"})


def enrol(client) -> tuple[TOTPDevice, list[str], object]:
    """Open the enrolment page, confirm with the app's code; the device and the backup codes."""
    page = client.get(ENROL_URL)
    assert page.status_code == 200, page.status_code
    device = TOTPDevice.objects.get(confirmed=False)
    response = client.post(ENROL_URL, {"otp_token": totp_token(device), "next": "/admin/"})
    device.refresh_from_db()
    return device, CODE.findall(response.content.decode()), response


class EnrolmentTests(OctopusTestCase):
    def test_it_leads_a_staff_member_without_a_device_to_the_enrolment_page(self):
        user = make_staff_without_device()
        response = password_step(self.client, user.username)
        self.assertRedirects(
            response, f"{ENROL_URL}?next=%2Fadmin%2F", fetch_redirect_response=False
        )
        page = self.client.get(response["Location"])
        self.assertContains(page, "<svg")  # the QR code, inline: no outside request
        self.assertNotContains(page, "<img")
        device = TOTPDevice.objects.get(user=user)
        self.assertFalse(device.confirmed)
        self.assertIn("otpauth://totp/Octopus-Soignies%3Amarc", device.config_url)
        secret = page.context["secret"].replace(" ", "")
        self.assertIn(f"secret={secret}", device.config_url)
        self.assertContains(page, "second facteur")
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_shows_the_same_secret_when_the_page_is_reloaded(self):
        user = make_staff_without_device()
        password_step(self.client, user.username)
        first = self.client.get(ENROL_URL).context["secret"]
        self.assertEqual(self.client.get(ENROL_URL).context["secret"], first)
        self.assertEqual(TOTPDevice.objects.filter(user=user).count(), 1)

    def test_it_activates_the_device_only_after_a_valid_code(self):
        user = make_staff_without_device()
        password_step(self.client, user.username)
        self.client.get(ENROL_URL)
        response = self.client.post(ENROL_URL, {"otp_token": "000000"})
        self.assertContains(response, "Code refusé")
        self.assertFalse(TOTPDevice.objects.get(user=user).confirmed)
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)
        # django-otp's own throttle: right after a refusal, even the right code waits.
        pending = TOTPDevice.objects.get(user=user)
        response = self.client.post(ENROL_URL, {"otp_token": totp_token(pending)})
        self.assertContains(response, "attendez un moment")
        TOTPDevice.objects.get(user=user).throttle_reset()  # as if a few seconds went by

        device, codes, response = enrol(self.client)
        self.assertTrue(device.confirmed)
        self.assertEqual(len(codes), 10)
        self.assertEqual(len(set(codes)), 10)
        stored = StaticToken.objects.filter(device__user=user)
        self.assertEqual(sorted(stored.values_list("token", flat=True)), sorted(codes))
        self.assertIn("no-store", response["Cache-Control"])
        self.assertEqual(self.client.get(LIST_URL).status_code, 200)

    def test_it_shows_the_backup_codes_only_once(self):
        user = make_staff_without_device()
        password_step(self.client, user.username)
        _device, codes, _response = enrol(self.client)
        for url in (ENROL_URL, "/admin/", LIST_URL):
            page = self.client.get(url).content.decode()
            for code in codes:
                self.assertNotIn(code, page)

    def test_it_lets_the_new_device_log_in_later_and_a_backup_code_too(self):
        user = make_staff_without_device()
        password_step(self.client, user.username)
        device, codes, _response = enrol(self.client)
        self.client.logout()
        static = StaticDevice.objects.get(user=user)
        login_with_otp(self.client, user, static, codes[0])
        self.assertEqual(self.client.get(LIST_URL).status_code, 200)

    def test_it_refuses_the_enrolment_page_to_everyone_else(self):
        self.assertRedirects(
            self.client.get(ENROL_URL), f"{LOGIN_URL}?next={ENROL_URL}",
            fetch_redirect_response=False,
        )  # fmt: skip
        member = get_user_model().objects.create_user("jeanne", password=ADMIN_PASSWORD)
        self.client.force_login(member)  # not staff
        self.assertEqual(self.client.get(ENROL_URL).status_code, 302)
        self.assertFalse(TOTPDevice.objects.exists())

    def test_it_refuses_a_second_device_before_the_first_one_is_verified(self):
        user, _static, _tokens = make_verified_admin()
        password_step(self.client, user.username)  # password only: not verified
        response = self.client.get(ENROL_URL)
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith(LOGIN_URL))
        self.assertEqual(TOTPDevice.objects.filter(user=user, confirmed=False).count(), 0)

    def test_it_lets_a_verified_user_enrol_a_second_device(self):
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])
        _device, codes, _response = enrol(self.client)
        self.assertEqual(TOTPDevice.objects.filter(user=user, confirmed=True).count(), 2)
        self.assertEqual(len(codes), 10)
        self.assertFalse(StaticToken.objects.filter(token=tokens[1]).exists())  # replaced

    def test_it_keeps_a_createsuperuser_user_out_until_enrolled(self):
        with mock.patch.dict(os.environ, {"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD}):
            call_command(
                "createsuperuser", interactive=False, username="nora",
                email="nora@octopus-soignies.be", verbosity=0,
            )  # fmt: skip
        response = password_step(self.client, "nora")
        self.assertTrue(response["Location"].startswith(ENROL_URL))
        for url in ("/admin/", LIST_URL, "/admin/auth/user/", "/admin/audit/auditrecord/"):
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 302)
        enrol(self.client)
        self.assertEqual(self.client.get(LIST_URL).status_code, 200)


class TokenStepTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.user, self.static, self.tokens = make_verified_admin()
        self.phone = TOTPDevice.objects.get(user=self.user)

    def test_it_asks_for_the_token_after_the_password(self):
        response = password_step(self.client, self.user.username)
        self.assertRedirects(
            response, f"{LOGIN_URL}?next=%2Fadmin%2F", fetch_redirect_response=False
        )
        page = self.client.get(response["Location"])
        self.assertContains(page, 'name="otp_device"')
        self.assertContains(page, "Mot de passe accepté")
        self.assertNotContains(page, 'name="password"')
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)
        response = self.client.post(
            LOGIN_URL,
            {"otp_device": self.phone.persistent_id, "otp_token": totp_token(self.phone),
             "next": LIST_URL},
        )  # fmt: skip
        self.assertRedirects(response, LIST_URL, fetch_redirect_response=False)
        self.assertEqual(self.client.get(LIST_URL).status_code, 200)

    def test_it_refuses_a_totp_code_used_twice(self):
        token = totp_token(self.phone)
        login_with_otp(self.client, self.user, self.phone, token)
        self.client.logout()
        response = self.client.post(
            LOGIN_URL,
            {"username": self.user.username, "password": ADMIN_PASSWORD,
             "otp_device": self.phone.persistent_id, "otp_token": token},
        )  # fmt: skip
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Code refusé")
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_refuses_a_totp_code_used_twice_at_the_token_step(self):
        token = totp_token(self.phone)
        login_with_otp(self.client, self.user, self.phone, token)
        self.client.logout()
        password_step(self.client, self.user.username)
        response = self.client.post(
            LOGIN_URL, {"otp_device": self.phone.persistent_id, "otp_token": token}
        )
        self.assertContains(response, "Code refusé")
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_refuses_an_unconfirmed_device(self):
        pending = TOTPDevice.objects.create(user=self.user, name="volé", confirmed=False)
        password_step(self.client, self.user.username)
        response = self.client.post(
            LOGIN_URL, {"otp_device": pending.persistent_id, "otp_token": totp_token(pending)}
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_never_echoes_the_password_back(self):
        response = self.client.post(
            LOGIN_URL,
            {"username": self.user.username, "password": ADMIN_PASSWORD,
             "otp_device": self.static.persistent_id, "otp_token": "wrong123"},
        )  # fmt: skip
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, ADMIN_PASSWORD)

    def test_it_lets_the_user_start_again_with_another_account(self):
        password_step(self.client, self.user.username)
        response = self.client.post(LOGIN_URL, {"cancel": "1"})
        self.assertEqual(response.status_code, 302)
        self.assertNotIn("_auth_user_id", self.client.session)


class DeviceResetTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])

    def reset(self, user):
        return self.client.post(
            "/admin/auth/user/",
            {"action": "reset_second_factor", "_selected_action": [user.pk]},
            follow=True,
        )

    def test_it_lets_a_superuser_reset_another_staff_members_devices(self):
        marc, _static, _tokens = make_verified_admin("marc")
        response = self.reset(marc)
        self.assertContains(response, "second facteur réinitialisé")
        self.assertFalse(TOTPDevice.objects.filter(user=marc).exists())
        self.assertFalse(StaticDevice.objects.filter(user=marc).exists())
        record = AuditRecord.objects.get(action=Action.OTP_RESET)
        self.assertEqual(
            (record.actor, record.target, record.outcome), (self.admin, "marc", "success")
        )
        other = self.client_class()
        response = password_step(other, "marc")
        self.assertTrue(response["Location"].startswith(ENROL_URL))

    def test_it_refuses_to_reset_ones_own_devices(self):
        response = self.reset(self.admin)
        self.assertContains(response, "votre propre second facteur")
        self.assertTrue(TOTPDevice.objects.filter(user=self.admin).exists())

    def test_it_offers_the_reset_to_superusers_only(self):
        staff = get_user_model().objects.create_user("paul", password=ADMIN_PASSWORD, is_staff=True)
        self.assertEqual(self.client.get("/admin/auth/user/").status_code, 200)
        from django.contrib.admin import site
        from django.test import RequestFactory

        request = RequestFactory().get("/admin/auth/user/")
        request.user = staff
        user_admin = site._registry[get_user_model()]
        self.assertNotIn("reset_second_factor", user_admin.get_actions(request))

    def test_it_shows_no_page_with_another_users_secret_or_codes(self):
        for url in ("/admin/otp_totp/totpdevice/", "/admin/otp_static/staticdevice/"):
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)


class CreateAdminCommandTests(OctopusTestCase):
    """#12 item 14: `createadmin "bad name!"` created a user Django itself would refuse."""

    def test_it_creates_no_administrator_named_bad_name(self):
        names = {
            "bad name!": "Saisissez un nom d’utilisateur valide",
            "a" * 151: "au plus 150 caractères",
            "": "ne peut pas être vide",
        }
        for name, reason in names.items():
            with self.subTest(name=name):
                out = io.StringIO()
                with self.assertRaises(CommandError) as raised:
                    call_command("createadmin", name, stdout=out)
                message = str(raised.exception)
                self.assertIn("Nom d'utilisateur refusé", message)
                self.assertIn(reason, message)
                self.assertEqual(out.getvalue(), "")
        self.assertFalse(get_user_model().objects.exists())
        self.assertFalse(StaticDevice.objects.exists())
        self.assertFalse(AuditRecord.objects.exists())

    def test_it_still_accepts_the_characters_django_allows(self):
        call_command("createadmin", "claire.d-2@asbl+x_y", stdout=io.StringIO())
        self.assertTrue(get_user_model().objects.filter(username="claire.d-2@asbl+x_y").exists())
