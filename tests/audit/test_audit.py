"""The audit trail: one record per act, who, from where, how it ended; read-only; no secrets."""

import io
from unittest import mock

from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import Action, AuditRecord, Outcome
from provisioning.exceptions import PermanentError
from provisioning.models import ProvisioningJob

from ..base import (
    ADMIN_PASSWORD,
    MEMBER,
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_staff_without_device,
    make_verified_admin,
    sms_passwords,
    totp_token,
)

ADDRESS = "pierre@octopus-soignies.be"
LIST_URL = "/admin/accounts/mailbox/"
AUDIT_URL = "/admin/audit/auditrecord/"


def records(action) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(action=action).order_by("pk"))


class AdminActsAuditTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])

    def act(self, action, mailbox):
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                LIST_URL, {"action": action, "_selected_action": [mailbox.pk]},
                REMOTE_ADDR="192.0.2.10",
            )  # fmt: skip

    def assertRecorded(self, action, outcome=Outcome.SUCCESS, target=ADDRESS):
        [record] = records(action)
        self.assertEqual(
            (record.actor, record.actor_label, record.ip, record.target, record.outcome),
            (self.admin, "claire", "192.0.2.10", target, outcome),
        )
        return record

    def test_it_records_a_creation_from_the_admin(self):
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(
                "/admin/accounts/mailbox/add/",
                {"full_name": MEMBER["full_name"], "local_part": "pierre",
                 "domain": self.domain.pk, "personal_email": MEMBER["personal_email"],
                 "phone": MEMBER["phone"]},
                REMOTE_ADDR="192.0.2.10",
            )  # fmt: skip
        record = self.assertRecorded(Action.MAILBOX_CREATE)
        # The act, never the member's data (invariant 7): it would outlive their erasure.
        self.assertIn("envoi n°", record.detail)
        for personal in (MEMBER["full_name"], MEMBER["personal_email"], MEMBER["phone"]):
            self.assertNotIn(personal, record.detail)

    def test_it_records_reset_disable_enable_and_resend(self):
        mailbox = deliver(create_pierre()).mailbox
        self.act("reset_password", mailbox)
        self.assertRecorded(Action.PASSWORD_RESET)
        self.act("disable", mailbox)
        self.assertRecorded(Action.MAILBOX_DISABLE)
        self.act("enable", mailbox)
        self.assertRecorded(Action.MAILBOX_ENABLE)
        ProvisioningJob.objects.update(email_status="sent")
        self.act("resend_confirmation", mailbox)
        self.assertRecorded(Action.CONFIRMATION_RESEND)

    def test_it_records_a_refused_act_with_its_reason(self):
        mailbox = deliver(create_pierre()).mailbox
        self.act("enable", mailbox)  # not disabled: refused
        record = self.assertRecorded(Action.MAILBOX_ENABLE, outcome=Outcome.REFUSED)
        self.assertIn("n'est pas désactivée", record.detail)

    def test_it_records_phone_and_personal_email_changes_without_their_values(self):
        member = create_pierre().mailbox.member
        self.client.post(
            f"/admin/accounts/member/{member.pk}/change/",
            {"full_name": member.full_name, "personal_email": "pierre@nouveau.example",
             "phone": "+32 470 99 88 77"},
            REMOTE_ADDR="192.0.2.10",
        )  # fmt: skip
        phone = self.assertRecorded(Action.PHONE_CHANGE)
        self.assertEqual(phone.detail, "GSM remplacé ; avis envoyé au membre (2 adresses)")
        email = self.assertRecorded(Action.PERSONAL_EMAIL_CHANGE)
        self.assertEqual(
            email.detail, "email personnel remplacé ; avis envoyé au membre (2 adresses)"
        )
        trail = " ".join(AuditRecord.objects.values_list("detail", flat=True))
        for personal in ("+32470123456", "+32470998877", "pierre@example.org",
                         "pierre@nouveau.example"):  # fmt: skip
            self.assertNotIn(personal, trail)

    def test_it_records_a_refused_change_without_what_was_typed(self):
        member = create_pierre().mailbox.member
        self.client.post(
            f"/admin/accounts/member/{member.pk}/change/",
            {"full_name": member.full_name, "personal_email": "pierre@nouveau.example",
             "phone": member.phone},
            REMOTE_ADDR="192.0.2.10",
        )  # fmt: skip
        with mock.patch("accounts.services.emails.send_rendered", side_effect=PermanentError(
            "Le serveur d'envoi refuse l'adresse pierre@nouveau.example, pierre@autre.example."
        )):  # fmt: skip
            self.client.post(
                f"/admin/accounts/member/{member.pk}/change/",
                {"full_name": member.full_name, "personal_email": "pierre@autre.example",
                 "phone": member.phone},
                REMOTE_ADDR="192.0.2.10",
            )  # fmt: skip
        refused = AuditRecord.objects.get(
            action=Action.PERSONAL_EMAIL_CHANGE, outcome=Outcome.REFUSED
        )
        self.assertIn("Rien n'a été modifié", refused.detail)
        self.assertNotIn("pierre@autre.example", refused.detail)
        self.assertNotIn("pierre@nouveau.example", refused.detail)

    def test_it_records_a_second_factor_reset(self):
        make_verified_admin("marc")
        marc = TOTPDevice.objects.get(user__username="marc").user
        self.client.post(
            "/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [marc.pk]},
            REMOTE_ADDR="192.0.2.10",
        )  # fmt: skip
        self.assertRecorded(Action.OTP_RESET, target="marc")


class CommandAuditTests(OctopusTestCase):
    def call(self, *args):
        with self.captureOnCommitCallbacks(execute=True):
            call_command(*args, stdout=io.StringIO())

    def test_it_records_each_command_as_the_system(self):
        member = ["--name", MEMBER["full_name"], "--phone", MEMBER["phone"],
                  "--personal-email", MEMBER["personal_email"]]  # fmt: skip
        self.call("createmailbox", ADDRESS, *member, "--no-wait")
        deliver(ProvisioningJob.objects.get())
        self.call("resetpassword", ADDRESS, "--no-wait")
        self.call("disablemailbox", ADDRESS)
        self.call("enablemailbox", ADDRESS)
        for action in (Action.MAILBOX_CREATE, Action.PASSWORD_RESET, Action.MAILBOX_DISABLE,
                       Action.MAILBOX_ENABLE):  # fmt: skip
            with self.subTest(action=action):
                [record] = records(action)
                self.assertIsNone(record.actor)
                self.assertTrue(record.actor_label.startswith("système (commande "))
                self.assertEqual((record.target, record.outcome), (ADDRESS, Outcome.SUCCESS))

    def test_it_records_a_refused_command(self):
        with self.assertRaises(CommandError):
            self.call("disablemailbox", "personne@octopus-soignies.be")
        [record] = records(Action.MAILBOX_DISABLE)
        self.assertEqual(record.outcome, Outcome.REFUSED)
        self.assertIn("n'existe pas", record.detail)

    def test_it_records_each_lockout_axes_reset_lifts(self):
        AccessAttempt.objects.create(
            username="claire", ip_address="203.0.113.9", failures_since_start=5,
            get_data="", post_data="", http_accept="", path_info="/admin/login/",
        )  # fmt: skip
        self.call("axes_reset")
        [record] = records(Action.UNLOCK)
        self.assertTrue(record.actor_label.startswith("système (commande axes_reset"))
        self.assertEqual(record.target, "claire")
        self.assertIn("203.0.113.9", record.detail)
        self.assertFalse(AccessAttempt.objects.exists())

    def test_it_records_the_backup_codes_createadmin_prints(self):
        self.call("createadmin", "claire", "--tokens", "3")
        [record] = records(Action.OTP_BACKUP_CODES)
        self.assertEqual(record.target, "claire")
        self.assertIn("superutilisateur créé", record.detail)


class LoginAuditTests(OctopusTestCase):
    def test_it_records_a_login_a_failed_login_and_a_lockout(self):
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])
        [login] = records(Action.LOGIN)
        self.assertEqual((login.actor, login.target, login.ip), (user, "claire", "127.0.0.1"))
        self.assertIn("secours", login.detail)
        self.client.logout()
        for n in range(5):
            self.client.post("/admin/login/", {"username": "claire", "password": f"faux-{n}"})
        failed = records(Action.LOGIN_FAILED)
        self.assertEqual(len(failed), 5)
        self.assertEqual({(r.target, r.outcome) for r in failed}, {("claire", "refused")})
        [lockout] = records(Action.LOCKOUT)
        self.assertEqual(lockout.target, "claire")

    def test_it_records_a_refused_code_as_a_failed_login(self):
        user, static, _tokens = make_verified_admin()
        self.client.post(
            "/admin/login/",
            {"username": "claire", "password": ADMIN_PASSWORD,
             "otp_device": static.persistent_id, "otp_token": "pasbon12"},
        )  # fmt: skip
        [failed] = records(Action.LOGIN_FAILED)
        self.assertIn("second facteur", failed.detail)

    def test_it_records_the_enrolment_of_a_device_and_the_login_it_opens(self):
        make_staff_without_device()
        self.client.post("/admin/login/", {"username": "marc", "password": ADMIN_PASSWORD})
        self.client.get("/admin/second-facteur/")
        device = TOTPDevice.objects.get()
        self.client.post("/admin/second-facteur/", {"otp_token": totp_token(device)})
        [enrol] = records(Action.OTP_ENROL)
        self.assertEqual(enrol.target, "marc")
        self.assertEqual([r.target for r in records(Action.LOGIN)], ["marc"])
        self.assertEqual([r.target for r in records(Action.LOGIN_PASSWORD)], ["marc"])


class AuditSecretsTests(OctopusTestCase):
    def test_it_never_holds_a_password_or_a_token(self):
        admin, static, tokens = make_verified_admin()
        # A password typed in the username field, a refused code, a used code.
        other = self.client_class()
        other.post("/admin/login/", {"username": ADMIN_PASSWORD, "password": "x"})
        login_with_otp(self.client, admin, static, tokens[0])
        other.post(
            "/admin/login/",
            {"username": "claire", "password": ADMIN_PASSWORD,
             "otp_device": static.persistent_id, "otp_token": "zz99zz99"},
        )  # fmt: skip
        phone = TOTPDevice.objects.get(user=admin)
        used_totp = totp_token(phone)
        login_with_otp(self.client_class(), admin, phone, used_totp)
        # A member, their SMS password, a reset and its new password; a new device's codes.
        mailbox = deliver(create_pierre()).mailbox
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(
                LIST_URL, {"action": "reset_password", "_selected_action": [mailbox.pk]}
            )
        deliver(mailbox.jobs.order_by("-pk").first())
        self.client.get("/admin/second-facteur/")
        pending = TOTPDevice.objects.get(confirmed=False)
        enrol_code = totp_token(pending)
        self.client.post("/admin/second-facteur/", {"otp_token": enrol_code})
        call_command("createadmin", "claire", "--tokens", "3", stdout=io.StringIO())

        secrets = [ADMIN_PASSWORD, "zz99zz99", used_totp, enrol_code, *tokens, *sms_passwords()]
        secrets += list(StaticToken.objects.values_list("token", flat=True))
        secrets += [pending.key, phone.key]
        self.assertEqual(len(sms_passwords()), 2)
        self.assertEqual(
            set(AuditRecord.objects.values_list("action", flat=True)),
            {Action.LOGIN_FAILED, Action.LOGIN, Action.MAILBOX_CREATE, Action.PASSWORD_RESET,
             Action.OTP_ENROL, Action.OTP_BACKUP_CODES},
        )  # fmt: skip
        for record in AuditRecord.objects.all():
            fields = " ".join(
                str(v) for v in AuditRecord.objects.filter(pk=record.pk).values().get().values()
            )
            for secret in secrets:
                self.assertNotIn(secret, fields, f"{record.action} holds a secret")


class AuditAdminTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])
        self.record = records(Action.LOGIN)[0]

    def test_it_lists_and_filters_the_trail(self):
        response = self.client.get(AUDIT_URL, {"action__exact": "login"})
        self.assertContains(response, "connexion à l&#x27;administration")
        self.assertContains(response, "127.0.0.1")
        response = self.client.get(AUDIT_URL, {"action__exact": "lockout"})
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, "127.0.0.1")

    def test_it_never_adds_changes_or_deletes_a_record_even_for_a_superuser(self):
        change_url = f"{AUDIT_URL}{self.record.pk}/change/"
        self.assertEqual(self.client.get(f"{AUDIT_URL}add/").status_code, 403)
        page = self.client.get(change_url)
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, 'name="_save"')
        self.assertEqual(self.client.post(change_url, {"detail": "effacé"}).status_code, 403)
        self.assertEqual(self.client.get(f"{AUDIT_URL}{self.record.pk}/delete/").status_code, 403)
        self.client.post(
            AUDIT_URL, {"action": "delete_selected", "_selected_action": [self.record.pk],
                        "post": "yes"},
        )  # fmt: skip
        self.assertTrue(
            AuditRecord.objects.filter(pk=self.record.pk, detail=self.record.detail).exists()
        )
        self.assertNotContains(self.client.get(AUDIT_URL), "delete_selected")

    def test_it_refuses_to_change_or_delete_a_record_in_code(self):
        self.record.detail = "effacé"
        with self.assertRaises(ValueError):
            self.record.save()
        with self.assertRaises(ValueError):
            self.record.delete()
