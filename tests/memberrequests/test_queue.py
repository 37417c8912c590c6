"""The approval queue in the admin: approve through the admin's services, refuse with a reason."""

from django.contrib.auth import get_user_model
from django.core import mail

from accounts.models import Mailbox
from audit.models import Action, AuditRecord, Outcome
from memberrequests import tasks
from memberrequests.models import MemberRequest
from provisioning import services
from provisioning.models import JobState, ProvisioningJob
from provisioning.sms import locmem

from ..base import (
    MEMBER,
    TEST_ACTOR,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
    send_email,
    sms_passwords,
)
from .helpers import QUEUE_URL, RequestTestCase

Status = MemberRequest.Status
SCRIPT = "<script>alert(1)</script>"


class QueueTestCase(RequestTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        self.admin_client = self.client_class()
        login_with_otp(self.admin_client, self.admin, static, tokens[0])

    def confirmed_address_request(self, **overrides) -> MemberRequest:
        self.ask_address(**overrides)
        email = overrides.get("personal_email", MEMBER["personal_email"])
        member_request = MemberRequest.objects.get(personal_email__iexact=email)
        self.client.post(self.confirmation_link(member_request))
        member_request.refresh_from_db()
        self.assertEqual(member_request.status, Status.PENDING)
        return member_request

    def act(self, action: str, *requests, shown="pending", **extra):
        """The action, as posted from the list showing `shown` (which limits its queryset)."""
        data = {"action": action, "_selected_action": [r.pk for r in requests], **extra}
        return self.admin_client.post(f"{QUEUE_URL}?status__exact={shown}", data, follow=True)


class QueueAccessTests(RequestTestCase):
    def test_it_sends_anonymous_visitors_to_the_login_page(self):
        for url in [QUEUE_URL, "/admin/memberrequests/memberimport/add/"]:
            response = self.client.get(url)
            self.assertEqual(response.status_code, 302, url)
            self.assertIn("/admin/login/", response["Location"])


class ApprovalTests(QueueTestCase):
    def test_it_ends_with_an_sms_and_the_settings_email_like_the_admins_own_creation(self):
        member_request = self.confirmed_address_request()
        response = self.act("approve", member_request)
        self.assertContains(response, "Adresse pierre@octopus-soignies.be créée")
        member_request.refresh_from_db()
        self.assertEqual(member_request.status, Status.APPROVED)
        self.assertEqual(member_request.decided_by, self.admin)
        job = ProvisioningJob.objects.get(mailbox=member_request.mailbox)
        self.assertEqual(job.kind, ProvisioningJob.Kind.CREATE)
        self.assertEqual(job.requested_by, self.admin)
        job = send_email(deliver(job))
        self.assertEqual(job.state, JobState.DONE)
        self.assertEqual(locmem.outbox[-1]["to"], MEMBER["phone"])
        password = sms_passwords()[-1]
        settings_email = mail.outbox[-1]
        self.assertEqual(settings_email.to, [MEMBER["personal_email"]])
        self.assertIn("Votre adresse pierre@octopus-soignies.be est prête", settings_email.subject)
        self.assertNotIn(password, settings_email.body)

    def test_it_records_the_approval_and_the_creation_with_the_administrator(self):
        member_request = self.confirmed_address_request()
        self.act("approve", member_request)
        [approved] = AuditRecord.objects.filter(action=Action.REQUEST_APPROVE)
        [created] = AuditRecord.objects.filter(action=Action.MAILBOX_CREATE)
        self.assertEqual(
            (approved.actor, approved.target, approved.outcome),
            (self.admin, f"demande n°{member_request.pk}", Outcome.SUCCESS),
        )
        self.assertEqual(
            (created.actor, created.target, created.outcome),
            (self.admin, "pierre@octopus-soignies.be", Outcome.SUCCESS),
        )
        self.assertIn(f"demande n°{member_request.pk}", created.detail)

    def test_it_records_a_refused_approval_with_its_reason(self):
        member_request = self.confirmed_address_request()
        create_pierre(personal_email="autre@example.org")  # the address is taken meanwhile
        self.act("approve", member_request)
        [refused] = AuditRecord.objects.filter(action=Action.REQUEST_APPROVE)
        self.assertEqual((refused.actor, refused.outcome), (self.admin, Outcome.REFUSED))
        self.assertIn("existe déjà", refused.detail)

    def test_it_starts_a_reset_for_a_forgotten_password(self):
        mailbox = deliver(create_pierre()).mailbox
        self.ask_password("pierre@octopus-soignies.be")
        member_request = MemberRequest.objects.get()
        self.client.post(self.confirmation_link(member_request))
        response = self.act("approve", member_request)
        self.assertContains(
            response,
            "Nouveau mot de passe de pierre@octopus-soignies.be en cours d&#x27;envoi par SMS",
        )
        job = ProvisioningJob.objects.filter(mailbox=mailbox).latest("created_at")
        self.assertEqual(job.kind, ProvisioningJob.Kind.RESET)
        deliver(job)
        self.assertEqual(len(sms_passwords()), 2)

    def test_it_shows_the_services_french_error_per_request_and_keeps_it_pending(self):
        taken = self.confirmed_address_request()
        other = self.confirmed_address_request(
            full_name="Marie Lambert", local_part="marie", personal_email="marie@example.org",
            phone="0471 23 45 67",
        )  # fmt: skip
        create_pierre()  # meanwhile, the administrator gave "pierre" to someone else
        response = self.act("approve", taken, other)
        self.assertEqual(response.status_code, 200)
        self.assertContains(
            response,
            f"Demande n°{taken.pk} (pierre@octopus-soignies.be) : L&#x27;adresse "
            "pierre@octopus-soignies.be existe déjà.",
        )
        self.assertNotContains(response, "Traceback")
        self.assertContains(response, "Adresse marie@octopus-soignies.be créée")
        taken.refresh_from_db()
        self.assertEqual(taken.status, Status.PENDING)
        self.assertIn("existe déjà", taken.last_error)
        self.assertEqual(Mailbox.objects.filter(local_part="pierre").count(), 1)

    def test_it_shows_why_a_disabled_mailbox_gets_no_new_password(self):
        mailbox = deliver(create_pierre()).mailbox
        self.ask_password("pierre@octopus-soignies.be")
        member_request = MemberRequest.objects.get()
        self.client.post(self.confirmation_link(member_request))
        services.mailbox_disable(mailbox=mailbox, actor=TEST_ACTOR)
        response = self.act("approve", member_request)
        self.assertContains(response, "est désactivée : réactivez-la")
        member_request.refresh_from_db()
        self.assertEqual(member_request.status, Status.PENDING)
        self.assertEqual(ProvisioningJob.objects.filter(mailbox=mailbox).count(), 1)

    def test_it_warns_in_the_list_that_an_address_is_taken(self):
        self.confirmed_address_request()
        create_pierre()
        self.assertContains(self.admin_client.get(QUEUE_URL), "adresse déjà prise")

    def test_it_approves_a_request_only_once(self):
        member_request = self.confirmed_address_request()
        self.act("approve", member_request)
        response = self.act("approve", member_request, shown="all")
        self.assertContains(response, "seule une demande à traiter peut être approuvée")
        self.assertEqual(ProvisioningJob.objects.count(), 1)

    def test_it_does_not_approve_an_unconfirmed_request(self):
        self.ask_address()
        member_request = MemberRequest.objects.get()
        response = self.act("approve", member_request, shown="all")
        self.assertContains(response, "email à confirmer")
        self.assertFalse(Mailbox.objects.exists())


class QueueListTests(QueueTestCase):
    def test_it_opens_on_the_requests_to_handle(self):
        self.confirmed_address_request()
        self.ask_address(personal_email="nobody@example.org", local_part="nobody")
        response = self.admin_client.get(QUEUE_URL)
        self.assertContains(response, "pierre@octopus-soignies.be")
        self.assertNotContains(response, "nobody@octopus-soignies.be")
        response = self.admin_client.get(QUEUE_URL + "?status__exact=all")
        self.assertContains(response, "nobody@octopus-soignies.be")

    def test_it_escapes_html_in_the_list_and_the_request_page(self):
        member_request = self.confirmed_address_request(
            full_name=f"Pierre {SCRIPT}", message=SCRIPT
        )
        for url in [QUEUE_URL, f"{QUEUE_URL}{member_request.pk}/change/"]:
            content = self.admin_client.get(url).content.decode()
            self.assertNotIn(SCRIPT, content, url)
            self.assertIn("&lt;script&gt;", content, url)


class RefusalTests(QueueTestCase):
    def test_it_asks_for_a_reason_on_an_intermediate_page(self):
        member_request = self.confirmed_address_request()
        response = self.act("refuse", member_request)
        self.assertContains(response, "Raison (facultative, envoyée au membre)")
        self.assertContains(response, f'name="_selected_action" value="{member_request.pk}"')
        member_request.refresh_from_db()
        self.assertEqual(member_request.status, Status.PENDING)

    def test_it_mails_the_reason_to_the_member(self):
        member_request = self.confirmed_address_request()
        reason = f"Réservé aux membres en ordre de cotisation {SCRIPT}"
        response = self.act("refuse", member_request, confirm="1", reason=reason)
        self.assertContains(response, "refusée ; le membre en est informé")
        member_request.refresh_from_db()
        self.assertEqual(member_request.status, Status.REFUSED)
        self.assertEqual(member_request.refusal_reason, reason)
        tasks.send_refusal(member_request.pk)
        refusal = mail.outbox[-1]
        self.assertEqual(refusal.to, [MEMBER["personal_email"]])
        self.assertIn(reason, refusal.body)  # plain text: shown as typed, never run
        html = refusal.alternatives[0][0]
        self.assertNotIn(SCRIPT, html)
        self.assertIn("&lt;script&gt;", html)
        self.assertFalse(Mailbox.objects.exists())

    def test_it_refuses_without_a_reason(self):
        member_request = self.confirmed_address_request()
        self.act("refuse", member_request, confirm="1", reason="")
        tasks.send_refusal(member_request.pk)
        self.assertNotIn("Raison", mail.outbox[-1].body)

    def test_it_records_the_refusal_with_the_administrator(self):
        member_request = self.confirmed_address_request()
        self.act("refuse", member_request, confirm="1", reason="Pas membre")
        [refusal] = AuditRecord.objects.filter(action=Action.REQUEST_REFUSE)
        self.assertEqual(
            (refusal.actor, refusal.target, refusal.outcome),
            (self.admin, f"demande n°{member_request.pk}", Outcome.SUCCESS),
        )
        self.assertNotIn("Pas membre", refusal.detail)  # the member's business, not the trail


class ArrivalNoticeTests(QueueTestCase):
    def test_it_tells_the_administrators_once_the_email_is_confirmed(self):
        get_user_model().objects.create_user("sans-email", "", "x", is_staff=True)
        get_user_model().objects.create_user("ancien", "ancien@example.org", "x", is_staff=True,
                                             is_active=False)  # fmt: skip
        self.ask_address(full_name=f"Pierre {SCRIPT}")
        member_request = MemberRequest.objects.get()
        tasks.notify_administrators(member_request.pk)
        self.assertFalse([m for m in mail.outbox if self.admin.email in m.to])  # not confirmed
        self.client.post(self.confirmation_link(member_request))
        tasks.notify_administrators(member_request.pk)
        notice = mail.outbox[-1]
        self.assertEqual(notice.to, [self.admin.email])
        self.assertIn("Demande d'adresse : pierre@octopus-soignies.be", notice.subject)
        self.assertIn("/admin/memberrequests/memberrequest/", notice.body)
        self.assertEqual(notice.alternatives, [])  # plain text: nothing to run
