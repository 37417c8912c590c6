"""Forgotten passwords without approval: per domain, off by default, capped, digested daily."""

from datetime import timedelta
from unittest import mock

from django.conf import settings
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.models import Domain
from audit.models import Action, AuditRecord, Outcome
from memberrequests import selfservice, tasks
from memberrequests.models import MemberRequest
from memberrequests.services import confirmation_token
from provisioning import services
from provisioning.models import ProvisioningJob
from provisioning.sms import locmem

from ..base import (
    MEMBER,
    TEST_ACTOR,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
    sms_passwords,
)
from .helpers import RequestTestCase

Status = MemberRequest.Status
PIERRE = "pierre@octopus-soignies.be"
MASKED = "+32 4•• •• •• 56"
MEMBER_LABEL = "membre (lien confirmé)"


class SelfServiceTestCase(RequestTestCase):
    def setUp(self):
        super().setUp()
        self.mailbox = deliver(create_pierre()).mailbox
        self.switch(on=True)

    def switch(self, *, on: bool) -> None:
        Domain.objects.filter(pk=self.domain.pk).update(self_service_reset=on)

    def confirm_forgotten_password(self):
        """Pierre asks, follows the link from his personal email and confirms; the
        administrators' notice, if any, is caught. (response, request, notice mock)"""
        self.ask_password(PIERRE)
        member_request = MemberRequest.objects.get(status=Status.RECEIVED)
        link = self.confirmation_link(member_request)
        with mock.patch.object(tasks.notify_administrators, "delay_on_commit") as notice:
            response = self.client.post(link)
        member_request.refresh_from_db()
        return response, member_request, notice

    def new_jobs(self):
        return ProvisioningJob.objects.filter(mailbox=self.mailbox).exclude(
            pk__in=[self.mailbox.jobs.order_by("pk").first().pk]
        )


class SelfServiceResetTests(SelfServiceTestCase):
    def test_it_is_off_by_default(self):
        self.assertFalse(Domain._meta.get_field("self_service_reset").default)
        self.assertFalse(Domain.objects.create(name="autre.be").self_service_reset)

    def test_it_sends_the_password_to_the_phone_on_file_without_approval(self):
        response, member_request, notice = self.confirm_forgotten_password()
        self.assertContains(response, "Nouveau mot de passe en route")
        self.assertContains(response, MASKED)
        self.assertEqual(member_request.status, Status.APPROVED)
        self.assertTrue(member_request.self_service)
        self.assertIsNone(member_request.decided_by)
        self.assertIsNotNone(member_request.decided_at)
        self.assertIn("sans administrateur", member_request.note)
        notice.assert_not_called()  # nothing waits in the queue
        [job] = self.new_jobs()
        self.assertEqual((job.kind, job.requested_by), (ProvisioningJob.Kind.RESET, None))
        deliver(job)
        self.assertEqual([sms["to"] for sms in locmem.outbox], [MEMBER["phone"]] * 2)
        self.assertEqual(len(set(sms_passwords())), 2)

    def test_it_records_who_acted_and_why_without_personal_data(self):
        _response, member_request, _notice = self.confirm_forgotten_password()
        approved = AuditRecord.objects.get(action=Action.SELF_SERVICE_RESET)
        self.assertEqual(
            (approved.actor, approved.actor_label, approved.target, approved.outcome),
            (None, MEMBER_LABEL, PIERRE, Outcome.SUCCESS),
        )
        self.assertEqual(approved.detail, f"demande n°{member_request.pk}")
        reset = AuditRecord.objects.get(action=Action.PASSWORD_RESET)
        self.assertEqual((reset.actor_label, reset.target), (MEMBER_LABEL, PIERRE))
        self.assertEqual(reset.detail, f"demande n°{member_request.pk}, sans approbation")
        for record in (approved, reset):
            for personal in (MEMBER["phone"], MEMBER["personal_email"], MEMBER["full_name"]):
                self.assertNotIn(personal, record.detail + record.target)

    def test_it_tells_in_the_link_email_that_the_password_goes_at_once(self):
        self.ask_password(PIERRE)
        self.confirmation_link(MemberRequest.objects.get())
        self.assertIn(
            f"Dès votre confirmation, le nouveau mot de passe part par SMS au {MASKED}, sans "
            "attendre l'administrateur.",
            mail.outbox[-1].body,
        )
        self.assertNotIn("L'administrateur la traitera ensuite", mail.outbox[-1].body)

    def test_it_leaves_the_request_to_the_administrator_when_the_domain_does_not_allow_it(self):
        self.switch(on=False)
        response, member_request, notice = self.confirm_forgotten_password()
        self.assertContains(response, "transmise à l'administrateur")
        self.assertEqual((member_request.status, member_request.note), (Status.PENDING, ""))
        self.assertFalse(member_request.self_service)
        notice.assert_called_once_with(member_request.pk)
        self.assertFalse(self.new_jobs().exists())
        self.assertFalse(AuditRecord.objects.filter(action=Action.SELF_SERVICE_RESET).exists())

    def test_it_never_resets_an_address_request(self):
        self.ask_address(local_part="pierre2", personal_email="p2@example.org")
        member_request = MemberRequest.objects.get(kind=MemberRequest.Kind.ADDRESS)
        self.client.post(self.confirmation_link(member_request))
        member_request.refresh_from_db()
        self.assertEqual(member_request.status, Status.PENDING)

    @override_settings(SELF_SERVICE_RESETS_PER_DAY=2)
    def test_it_sends_the_request_to_the_queue_beyond_the_cap_per_mailbox(self):
        make_verified_admin()  # who the notice goes to
        for _ in range(2):
            _response, member_request, _notice = self.confirm_forgotten_password()
            self.assertEqual(member_request.status, Status.APPROVED)
            deliver(self.new_jobs().latest("pk"))
        response, member_request, notice = self.confirm_forgotten_password()
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "transmise à l'administrateur")
        self.assertEqual(member_request.status, Status.PENDING)
        self.assertIn("Déjà 2 nouveau(x) mot(s) de passe sans approbation", member_request.note)
        self.assertIn("attend l'approbation d'un administrateur", member_request.note)
        notice.assert_called_once_with(member_request.pk)
        self.assertEqual(self.new_jobs().count(), 2)
        refused = AuditRecord.objects.get(action=Action.SELF_SERVICE_RESET, outcome=Outcome.REFUSED)
        self.assertIn("limite : 2", refused.detail)
        tasks.notify_administrators(member_request.pk)
        self.assertIn("limite : 2", mail.outbox[-1].body)  # the notice says why it waits

    @override_settings(SELF_SERVICE_RESETS_PER_DAY=1)
    def test_it_counts_the_cap_over_the_last_24_hours(self):
        _response, first, _notice = self.confirm_forgotten_password()
        deliver(self.new_jobs().get())
        MemberRequest.objects.filter(pk=first.pk).update(
            decided_at=timezone.now() - timedelta(hours=24, seconds=1)
        )
        _response, second, _notice = self.confirm_forgotten_password()
        self.assertEqual(second.status, Status.APPROVED)

    def test_it_never_resets_a_disabled_mailbox_without_approval(self):
        self.ask_password(PIERRE)
        member_request = MemberRequest.objects.get(status=Status.RECEIVED)
        link = self.confirmation_link(member_request)
        services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)
        response = self.client.post(link)
        self.assertContains(response, "transmise à l'administrateur")
        member_request.refresh_from_db()
        self.assertEqual(member_request.status, Status.PENDING)
        self.assertIn("« désactivée »", member_request.note)
        self.assertFalse(self.new_jobs().exists())

    def test_it_joins_a_delivery_already_on_its_way(self):
        services.mailbox_password_reset(mailbox=self.mailbox, actor=TEST_ACTOR)
        _response, member_request, _notice = self.confirm_forgotten_password()
        self.assertEqual(member_request.status, Status.APPROVED)
        self.assertIn("déjà en cours", member_request.note)
        self.assertEqual(self.new_jobs().count(), 1)

    def test_it_shows_the_page_again_when_the_link_is_opened_later(self):
        _response, member_request, _notice = self.confirm_forgotten_password()
        link = f"/demande/confirmer/{confirmation_token(member_request)}/"
        self.assertContains(self.client.get(link), "Nouveau mot de passe en route")


class SelfServiceDigestTests(SelfServiceTestCase):
    def setUp(self):
        super().setUp()
        self.admin, _static, _tokens = make_verified_admin()

    def test_it_mails_the_administrators_the_addresses_and_times_only(self):
        _response, member_request, _notice = self.confirm_forgotten_password()
        tasks.self_service_digest()
        [digest] = mail.outbox[-1:]
        self.assertEqual(digest.to, [self.admin.email])
        self.assertIn("Mots de passe envoyés sans approbation : 1", digest.subject)
        local = timezone.localtime(member_request.decided_at)
        self.assertIn(f"- {PIERRE}, le {local:%d/%m/%Y à %H:%M}", digest.body)
        self.assertIn("/admin/memberrequests/memberrequest/?status__exact=approved", digest.body)
        for personal in (MEMBER["phone"], "470", MEMBER["personal_email"], "Dupont"):
            self.assertNotIn(personal, digest.subject + digest.body)

    def test_it_lists_only_the_last_24_hours_and_no_approved_request(self):
        _response, old, _notice = self.confirm_forgotten_password()
        deliver(self.new_jobs().get())
        MemberRequest.objects.filter(pk=old.pk).update(
            decided_at=timezone.now() - timedelta(hours=25)
        )
        self.switch(on=False)
        _response, by_admin, _notice = self.confirm_forgotten_password()
        MemberRequest.objects.filter(pk=by_admin.pk).update(
            status=Status.APPROVED, decided_at=timezone.now(), decided_by=self.admin
        )
        sent = len(mail.outbox)
        self.assertEqual(selfservice.self_service_digest_send(), 0)
        self.assertEqual(len(mail.outbox), sent)  # nothing happened: no email at all

    def test_it_sends_nothing_when_nothing_happened(self):
        sent = len(mail.outbox)
        tasks.self_service_digest()
        self.assertEqual(len(mail.outbox), sent)

    def test_it_is_scheduled_daily(self):
        tasks_scheduled = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
        self.assertIn("memberrequests.self_service_digest", tasks_scheduled)


class SelfServiceSwitchTests(RequestTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])
        self.url = f"/admin/accounts/domain/{self.domain.pk}/change/"

    def post_domain_page(self, **changes):
        form = self.client.get(self.url).context["adminform"].form
        data = {name: form.initial.get(name) or "" for name in form.fields}
        data.update(imap_port=993, smtp_port=465, default_quota="0", self_service_reset="")
        data.update(changes)  # an unticked box is not posted: "" reads as unticked
        return self.client.post(self.url, data, follow=True)

    def test_it_shows_the_switch_off_on_the_domain_page(self):
        response = self.client.get(self.url)
        self.assertContains(response, "Mot de passe oublié sans approbation")
        self.assertFalse(response.context["adminform"].form["self_service_reset"].value())

    def test_it_records_the_administrator_switching_it_on_then_off(self):
        self.post_domain_page(self_service_reset="on")
        self.domain.refresh_from_db()
        self.assertTrue(self.domain.self_service_reset)
        self.post_domain_page()  # the box unticked
        self.domain.refresh_from_db()
        self.assertFalse(self.domain.self_service_reset)
        records = AuditRecord.objects.filter(action=Action.SELF_SERVICE_SWITCH).order_by("pk")
        self.assertEqual(
            [(r.actor, r.target, r.detail) for r in records],
            [
                (self.admin, self.domain.name, "mot de passe oublié sans approbation activé"),
                (self.admin, self.domain.name, "mot de passe oublié sans approbation coupé"),
            ],
        )

    def test_it_records_nothing_when_the_switch_is_left_alone(self):
        self.post_domain_page()
        self.assertFalse(AuditRecord.objects.filter(action=Action.SELF_SERVICE_SWITCH).exists())
