"""A member hears of every change of their phone or personal email, at the old address."""

from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.base import BaseEmailBackend
from django.test import override_settings

from accounts import services
from accounts.models import Member

from ..base import (
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
    sms_passwords,
)


class RefusingBackend(BaseEmailBackend):
    def send_messages(self, messages):
        raise ConnectionRefusedError


class MemberNoticeTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])
        self.job = deliver(create_pierre())
        self.member = self.job.mailbox.member
        mail.outbox.clear()

    def edit(self, **changes):
        data = {"full_name": self.member.full_name, "personal_email": self.member.personal_email,
                "phone": str(self.member.phone), **changes}  # fmt: skip
        return self.client.post(
            f"/admin/accounts/member/{self.member.pk}/change/", data, follow=True
        )

    def test_it_tells_the_old_address_when_the_phone_changes(self):
        response = self.edit(phone="0470 99 88 77")
        self.assertContains(response, "Avis de modification envoyé à pierre@example.org")
        [notice] = mail.outbox
        self.assertEqual(notice.to, ["pierre@example.org"])
        self.assertIn("pierre@octopus-soignies.be", notice.body)
        self.assertIn("+32 4•• •• •• 56 → +32 4•• •• •• 77", notice.body)
        self.assertIn("Si vous n'avez rien demandé", notice.body)
        self.assertIn("If you did not ask for this", notice.body)
        html = notice.alternatives[0][0]
        self.assertIn("+32 4•• •• •• 77", html)
        self.member.refresh_from_db()
        self.assertEqual(str(self.member.phone), "+32470998877")

    def test_it_tells_the_old_and_the_new_address_when_the_email_changes(self):
        self.edit(personal_email="Pierre@Nouveau.example")
        [notice] = mail.outbox
        self.assertEqual(notice.to, ["pierre@example.org", "Pierre@nouveau.example"])
        self.assertIn("pierre@example.org → Pierre@nouveau.example", notice.body)

    def test_it_never_puts_the_password_in_a_notice(self):
        self.edit(phone="0470 99 88 77", personal_email="pierre@nouveau.example")
        [password] = sms_passwords()
        [notice] = mail.outbox
        self.assertNotIn(password, notice.body + notice.alternatives[0][0] + notice.subject)

    def test_it_sends_nothing_for_a_new_name_alone(self):
        self.edit(full_name="Pierre-Emile Dupont")
        self.assertEqual(mail.outbox, [])
        self.member.refresh_from_db()
        self.assertEqual(self.member.full_name, "Pierre-Emile Dupont")

    def test_it_cannot_be_turned_off_by_the_person_making_the_change(self):
        response = self.edit(phone="0470 99 88 77", notify="", send_notice="off", notice="0")
        self.assertNotContains(response, 'name="notify"')
        self.assertEqual(len(mail.outbox), 1)

    def test_it_refuses_a_bad_phone_in_french_and_writes_nothing(self):
        response = self.edit(phone="02 512 34 56", personal_email="pierre@")
        self.assertContains(response, "numéro de GSM")
        self.assertContains(response, "adresse email valide")
        self.assertEqual(mail.outbox, [])
        self.assertEqual(Member.objects.get().personal_email, "pierre@example.org")

    @override_settings(EMAIL_BACKEND="tests.accounts.test_member_notices.RefusingBackend")
    def test_it_changes_nothing_when_the_notice_cannot_leave(self):
        response = self.edit(phone="0470 99 88 77")
        self.assertContains(response, "Rien n&#x27;a été modifié")
        self.assertNotContains(response, "a été modifié avec succès")
        self.member.refresh_from_db()
        self.assertEqual(str(self.member.phone), "+32470123456")


class MemberUpdateServiceTests(OctopusTestCase):
    def test_it_validates_with_the_shared_validators_before_writing(self):
        member = create_pierre().mailbox.member
        with self.assertRaises(ValidationError) as caught:
            services.member_update(
                member=member, full_name=" ", personal_email="x@", phone="0470", actor=TEST_ACTOR
            )
        self.assertEqual(
            set(caught.exception.message_dict), {"full_name", "personal_email", "phone"}
        )
        self.assertEqual(mail.outbox, [])

    def test_it_reports_what_changed_and_who_was_told(self):
        member = create_pierre().mailbox.member
        change = services.member_update(
            member=member, full_name="Pierre Dupont", personal_email="pierre@example.org",
            phone="+32 470 99 88 77", actor=TEST_ACTOR,
        )  # fmt: skip
        self.assertEqual(set(change.new), {"phone"})
        self.assertEqual(change.notified, ("pierre@example.org",))
        self.assertEqual(len(mail.outbox), 1)
        same = services.member_update(
            member=member, full_name="Pierre Dupont", personal_email="pierre@example.org",
            phone="0470998877", actor=TEST_ACTOR,
        )  # fmt: skip
        self.assertFalse(same.changed)
        self.assertEqual(len(mail.outbox), 1)
