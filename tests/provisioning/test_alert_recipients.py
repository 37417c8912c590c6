"""Staff alerts follow the roles: an alert about a domain goes to the superusers, the group
« Administrateurs » and the gestionnaires entrusted with that domain, never to a gestionnaire
of another domain (SMS not delivered, request to approve, DNS watch, self-service digest)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from accounts.models import DnsLevel, Domain
from memberrequests import selfservice
from memberrequests import services as request_services
from memberrequests.models import MemberRequest
from provisioning import selectors, services, steps
from provisioning.dnshealth import watch
from provisioning.dnshealth.lookups import Finding
from roles.groups import ADMINISTRATORS, MANAGERS
from roles.models import DomainDelegation

from ..base import DOMAIN, TEST_ACTOR, OctopusTestCase, create_pierre, deliver

OTHER = "autre-asso.be"
EVERYONE = ["alice@example.org", "claire@example.org"]  # the administrators
GASTON, GILLES = "gaston@example.org", "gilles@example.org"  # gestionnaires of DOMAIN, OTHER


class AlertRecipientsTests(OctopusTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.other = Domain.objects.create(name=OTHER, imap_host=OTHER, smtp_host=OTHER)
        self.staff("claire", is_superuser=True)
        self.staff("alice", group=ADMINISTRATORS)
        self.staff("gaston", group=MANAGERS, domains=[self.domain])
        self.staff("gilles", group=MANAGERS, domains=[self.other])
        self.staff("sam")  # staff in no group, no domain: hears of nothing
        self.staff("ancien", is_superuser=True, is_active=False)
        self.staff("hubert", group=ADMINISTRATORS, email="")

    def staff(self, username, *, group=None, domains=(), email=None, **fields):
        email = f"{username}@example.org" if email is None else email
        user = get_user_model().objects.create_user(username, email, "x", is_staff=True,
                                                    **fields)  # fmt: skip
        if group:
            user.groups.add(Group.objects.get(name=group))
        for domain in domains:
            DomainDelegation.objects.create(user=user, domain=domain)
        return user

    def test_it_names_the_administrators_and_the_domains_gestionnaires(self):
        self.assertEqual(selectors.staff_addresses(self.domain.pk), sorted([*EVERYONE, GASTON]))
        self.assertEqual(selectors.staff_addresses(self.other.pk), sorted([*EVERYONE, GILLES]))
        self.assertEqual(selectors.staff_addresses(None), EVERYONE)
        both = frozenset({self.domain.pk, self.other.pk})
        self.assertEqual(
            selectors.alert_groups(both),
            [(EVERYONE, both), ([GASTON], {self.domain.pk}), ([GILLES], {self.other.pk})],
        )

    def test_it_tells_only_that_domains_gestionnaire_of_an_sms_not_delivered(self):
        job = deliver(create_pierre())
        steps.sms_status_record(message_sid=job.sms_message_id, status="undelivered",
                                error_code=30003)  # fmt: skip
        mail.outbox.clear()
        steps.job_alert_sms_failure(job_id=job.pk)
        [alert] = mail.outbox
        self.assertEqual(sorted(alert.to), sorted([*EVERYONE, GASTON]))

    def test_it_tells_only_that_domains_gestionnaire_of_a_request_to_approve(self):
        for domain, gestionnaire in ((self.domain, GASTON), (self.other, GILLES)):
            with self.subTest(domain=domain.name):
                mail.outbox.clear()
                member_request = MemberRequest.objects.create(
                    kind=MemberRequest.Kind.ADDRESS, status=MemberRequest.Status.PENDING,
                    full_name="Jeanne Petit", local_part="jeanne", domain=domain,
                    personal_email=f"jeanne@{domain.name}.example.org", phone="+32470111222",
                )  # fmt: skip
                request_services.member_request_notify_administrators(request_id=member_request.pk)
                [notice] = mail.outbox
                self.assertEqual(sorted(notice.to), sorted([*EVERYONE, gestionnaire]))

    def test_it_splits_the_dns_alert_by_domain(self):
        finding = Finding(check="dkim", label="DKIM", level=DnsLevel.ERROR, message="Aucune clé")
        watch._alert([watch.Change(self.domain, finding, DnsLevel.OK),
                      watch.Change(self.other, finding, DnsLevel.OK)])  # fmt: skip
        sent = {tuple(sorted(message.to)): message.subject for message in mail.outbox}
        self.assertEqual(set(sent), {tuple(EVERYONE), (GASTON,), (GILLES,)})
        self.assertIn(f"({OTHER}, {DOMAIN})", sent[tuple(EVERYONE)])
        self.assertIn(f"({DOMAIN})", sent[(GASTON,)])
        self.assertIn(f"({OTHER})", sent[(GILLES,)])
        # Only an administrator may open the DNS page: a gestionnaire is told whom to ask.
        bodies = {tuple(sorted(message.to)): message.body for message in mail.outbox}
        dns_page = f"/admin/accounts/domain/{self.domain.pk}/dns/"
        self.assertIn(dns_page, bodies[tuple(EVERYONE)])
        self.assertNotIn("/admin/", bodies[(GASTON,)])
        self.assertIn("Seul un administrateur", bodies[(GASTON,)])
        self.assertNotIn("Seul un administrateur", bodies[tuple(EVERYONE)])

    def test_it_splits_the_self_service_digest_by_domain(self):
        now = timezone.now()
        for domain, local_part, phone in ((self.domain, "pierre", "+32470123456"),
                                          (self.other, "marie", "+32470999888")):  # fmt: skip
            mailbox = services.mailbox_create(
                local_part=local_part, domain=domain, full_name=local_part.title(),
                personal_email=f"{local_part}@example.net", phone=phone, actor=TEST_ACTOR,
            ).mailbox  # fmt: skip
            MemberRequest.objects.create(
                kind=MemberRequest.Kind.PASSWORD, status=MemberRequest.Status.APPROVED,
                mailbox=mailbox, self_service=True, decided_at=now - timedelta(hours=1),
            )  # fmt: skip
        self.assertEqual(selfservice.self_service_digest_send(now=now), 2)
        bodies = {tuple(sorted(message.to)): message.body for message in mail.outbox}
        self.assertEqual(set(bodies), {tuple(EVERYONE), (GASTON,), (GILLES,)})
        self.assertIn(f"marie@{OTHER}", bodies[tuple(EVERYONE)])
        self.assertIn(f"pierre@{DOMAIN}", bodies[tuple(EVERYONE)])
        self.assertIn(f"pierre@{DOMAIN}", bodies[(GASTON,)])
        self.assertNotIn(OTHER, bodies[(GASTON,)])
        self.assertNotIn(DOMAIN, bodies[(GILLES,)].replace(f"@{OTHER}", ""))
