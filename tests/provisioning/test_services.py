"""The administrator's use cases: create, reset, disable, enable, resend; lookups."""

from unittest import mock

from django.core.exceptions import ValidationError

from accounts.models import Mailbox
from audit.services import Actor
from provisioning import mailserver, services
from provisioning.exceptions import TransientError
from provisioning.models import ProvisioningJob

from ..base import (
    DOMAIN,
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    deliver,
    make_staff_without_device,
    send_email,
)
from .doubles import (
    ADDRESS,
    mailserver_refusing_connections,
    published_tasks,
    row_counts,
    task_calls,
)

DELIVER = "provisioning.deliver_password"
EMAIL = "provisioning.send_job_email"


class MailboxCreateTests(OctopusTestCase):
    def test_it_writes_the_member_the_mailbox_and_a_queued_job(self):
        job = create_pierre()
        mailbox = Mailbox.objects.get()
        self.assertEqual(mailbox.address, ADDRESS)
        self.assertEqual(mailbox.status, Mailbox.Status.PENDING)
        member = mailbox.member
        self.assertEqual(member.full_name, "Pierre Dupont")
        self.assertEqual(member.personal_email, "pierre@example.org")
        self.assertEqual(member.phone.as_e164, "+32470123456")
        self.assertEqual((job.mailbox, job.kind, job.state), (mailbox, "create", "queued"))

    def test_it_enqueues_only_the_job_id_once_committed(self):
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            job = create_pierre()
            self.assertEqual(published, [])  # nothing before the commit
        self.assertEqual(task_calls(published), [(DELIVER, [job.pk], {})])

    def test_it_writes_nothing_to_the_mail_server(self):
        before = row_counts()
        create_pierre()
        after = row_counts()
        for table in ("virtual_domains", "virtual_users", "virtual_aliases"):
            self.assertEqual(after[table], before[table])

    def test_it_cleans_what_the_administrator_typed(self):
        create_pierre(
            local_part="  Marie.Claire ",
            full_name="  Marie   Claire ",
            personal_email="Marie@Example.ORG",
            phone="0470 12 34 56",
        )
        mailbox = Mailbox.objects.select_related("member").get()
        self.assertEqual(mailbox.local_part, "marie.claire")
        self.assertEqual(mailbox.member.full_name, "Marie Claire")
        self.assertEqual(mailbox.member.personal_email, "Marie@example.org")
        self.assertEqual(mailbox.member.phone.as_e164, "+32470123456")

    def test_it_records_who_asked(self):
        admin = make_staff_without_device()
        job = create_pierre(actor=Actor(label=admin.username, user=admin))
        self.assertEqual(job.requested_by, admin)


class MailboxCreateRefusalTests(OctopusTestCase):
    """Invariant 5: each bad input gets a French message under its field and writes nothing."""

    CASES = [
        ("local_part", {"local_part": "pierre dupont"}, "sans espace"),
        ("local_part", {"local_part": "hélène"}, "sans accent"),
        ("local_part", {"local_part": "p" * 65}, "65 caractères ; 64 au maximum"),
        ("phone", {"phone": "pas un numéro"}, "Numéro de GSM illisible"),
        ("phone", {"phone": "+32 2 234 56 78"}, "n'est pas un numéro de GSM"),
        ("phone", {"phone": "+32 999 99 99 99"}, "n'existe pas"),
        ("personal_email", {"personal_email": "pierre@"}, "n'est pas une adresse email valide"),
        ("full_name", {"full_name": "   "}, "Indiquez le nom complet du membre."),
    ]

    def assertRefusedWithoutWriting(self, field: str, words: str, **overrides) -> None:
        before = row_counts()
        with published_tasks() as published, self.captureOnCommitCallbacks() as callbacks:
            with self.assertRaises(ValidationError) as raised:
                create_pierre(**overrides)
        self.assertEqual(list(raised.exception.message_dict), [field])
        self.assertIn(words, raised.exception.message_dict[field][0])
        self.assertEqual(row_counts(), before)
        self.assertEqual((callbacks, published), ([], []))

    def test_it_refuses_each_bad_input_and_writes_nothing(self):
        for field, overrides, words in self.CASES:
            with self.subTest(field=field, **overrides):
                self.assertRefusedWithoutWriting(field, words, **overrides)

    def test_it_refuses_an_address_already_taken(self):
        create_pierre()
        self.assertRefusedWithoutWriting("local_part", f"L'adresse {ADDRESS} existe déjà.")

    def test_it_refuses_an_uppercase_spelling_of_a_taken_address(self):
        create_pierre()
        self.assertRefusedWithoutWriting(
            "local_part", f"L'adresse {ADDRESS} existe déjà.", local_part="Pierre"
        )

    def test_it_refuses_an_address_taken_by_a_concurrent_request(self):
        create_pierre()
        # The other request saved between this one's check and its insert.
        with mock.patch("provisioning.services._available_local_part", return_value="pierre"):
            self.assertRefusedWithoutWriting("local_part", f"L'adresse {ADDRESS} existe déjà.")

    def test_it_reports_every_bad_field_at_once(self):
        with self.assertRaises(ValidationError) as raised:
            create_pierre(local_part="Hélène Dupont", phone="02 234 56 78", full_name="")
        self.assertEqual(set(raised.exception.message_dict), {"local_part", "phone", "full_name"})
        self.assertEqual(row_counts()["member"], 0)


class LookupTests(OctopusTestCase):
    def test_it_finds_a_domain_whatever_its_case(self):
        self.assertEqual(services.domain_get(name=" Octopus-Soignies.BE "), self.domain)

    def test_it_names_the_known_domains_for_an_unknown_one(self):
        with self.assertRaises(ValidationError) as raised:
            services.domain_get(name="exemple.be")
        self.assertEqual(
            raised.exception.messages,
            [f"Le domaine « exemple.be » n'est pas géré ici (domaines connus : {DOMAIN})."],
        )

    def test_it_finds_a_mailbox_whatever_its_case(self):
        create_pierre()
        self.assertEqual(
            services.mailbox_get(address=" Pierre@Octopus-Soignies.be").address, ADDRESS
        )

    def test_it_refuses_an_unknown_address(self):
        with self.assertRaisesMessage(ValidationError, f"L'adresse marie@{DOMAIN} n'existe pas."):
            services.mailbox_get(address=f"marie@{DOMAIN}")

    def test_it_refuses_an_incomplete_address(self):
        for address in ("pierre", "pierre@", "@octopus-soignies.be"):
            with self.subTest(address=address):
                with self.assertRaisesMessage(ValidationError, "n'est pas une adresse complète"):
                    services.mailbox_get(address=address)


class MailboxPasswordResetTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.first = create_pierre()
        self.mailbox = self.first.mailbox

    def reset(self):
        self.mailbox.refresh_from_db()  # as the admin reads it, after the worker's changes
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            outcome = services.mailbox_password_reset(mailbox=self.mailbox, actor=TEST_ACTOR)
        return outcome, task_calls(published)

    def test_it_merges_a_reset_into_the_queued_delivery(self):
        outcome, calls = self.reset()
        self.assertEqual((outcome.job, outcome.merged), (self.first, True))
        self.assertEqual(ProvisioningJob.objects.count(), 1)
        self.assertEqual(calls, [])

    def test_it_merges_a_reset_into_a_running_delivery(self):
        ProvisioningJob.objects.filter(pk=self.first.pk).update(state="running")
        outcome, _calls = self.reset()
        self.assertEqual((outcome.job, outcome.merged), (self.first, True))
        self.assertEqual(ProvisioningJob.objects.count(), 1)

    def test_it_queues_a_reset_job_after_a_finished_delivery(self):
        deliver(self.first)
        outcome, calls = self.reset()
        self.assertFalse(outcome.merged)
        self.assertNotEqual(outcome.job, self.first)
        self.assertEqual((outcome.job.kind, outcome.job.state), ("reset", "queued"))
        self.assertEqual(calls, [(DELIVER, [outcome.job.pk], {})])

    def test_it_queues_a_creation_again_when_no_password_was_ever_sent(self):
        ProvisioningJob.objects.filter(pk=self.first.pk).update(state="failed")
        outcome, calls = self.reset()
        self.assertEqual((outcome.job.kind, outcome.merged), ("create", False))
        self.assertEqual(calls, [(DELIVER, [outcome.job.pk], {})])

    def test_it_refuses_a_disabled_mailbox(self):
        deliver(self.first)
        services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)
        with self.assertRaisesMessage(ValidationError, "est désactivée : réactivez-la"):
            services.mailbox_password_reset(mailbox=self.mailbox, actor=TEST_ACTOR)
        self.assertEqual(ProvisioningJob.objects.count(), 1)


class MailboxDisableEnableTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.job = deliver(create_pierre())
        self.mailbox = Mailbox.objects.get()

    def status(self) -> str:
        return Mailbox.objects.get(pk=self.mailbox.pk).status

    def test_it_disables_the_login_and_the_mailbox(self):
        services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        self.assertEqual(self.status(), "disabled")

    def test_it_enables_them_again(self):
        services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)
        services.mailbox_enable(mailbox=self.mailbox, actor=TEST_ACTOR)
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])
        self.assertEqual(self.status(), "active")

    def test_it_keeps_the_password_across_disable_and_enable(self):
        stored = mailserver.user_row(ADDRESS)["password"]
        services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)
        services.mailbox_enable(mailbox=self.mailbox, actor=TEST_ACTOR)
        self.assertEqual(mailserver.user_row(ADDRESS)["password"], stored)

    def test_it_refuses_to_disable_twice_or_enable_an_enabled_mailbox(self):
        with self.assertRaisesMessage(ValidationError, "n'est pas désactivée"):
            services.mailbox_enable(mailbox=self.mailbox, actor=TEST_ACTOR)
        services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)
        with self.assertRaisesMessage(ValidationError, "est déjà désactivée"):
            services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)

    def test_it_disables_a_mailbox_that_never_got_a_password(self):
        create_pierre(local_part="marie")
        marie = Mailbox.objects.get(local_part="marie")
        services.mailbox_disable(mailbox=marie, actor=TEST_ACTOR)
        self.assertIsNone(mailserver.user_row(f"marie@{DOMAIN}"))
        services.mailbox_enable(mailbox=marie, actor=TEST_ACTOR)
        self.assertEqual(Mailbox.objects.get(pk=marie.pk).status, "pending")

    def test_it_changes_nothing_while_the_mail_database_is_down(self):
        with mailserver_refusing_connections(), self.assertRaises(TransientError):
            services.mailbox_disable(mailbox=self.mailbox, actor=TEST_ACTOR)
        self.assertEqual(self.status(), "active")
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])


class MailboxConfirmationResendTests(OctopusTestCase):
    def test_it_requeues_the_email_step(self):
        job = send_email(deliver(create_pierre()))
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            services.mailbox_confirmation_resend(mailbox=job.mailbox, actor=TEST_ACTOR)
        job.refresh_from_db()
        self.assertEqual((job.email_status, job.email_attempts), ("queued", 0))
        self.assertEqual(task_calls(published), [(EMAIL, [job.pk], {})])
        self.assertEqual(send_email(job).email_status, "sent")

    def test_it_refuses_before_any_password_was_sent(self):
        job = create_pierre()
        with self.assertRaisesMessage(ValidationError, "Aucun mot de passe n'a encore été envoyé"):
            services.mailbox_confirmation_resend(mailbox=job.mailbox, actor=TEST_ACTOR)

    def test_it_refuses_while_the_email_is_on_its_way(self):
        job = deliver(create_pierre())
        with self.assertRaisesMessage(ValidationError, "déjà en cours d'envoi"):
            services.mailbox_confirmation_resend(mailbox=job.mailbox, actor=TEST_ACTOR)

    def test_it_resends_the_latest_delivery(self):
        first = send_email(deliver(create_pierre()))
        reset = services.mailbox_password_reset(mailbox=first.mailbox, actor=TEST_ACTOR).job
        send_email(deliver(reset))
        self.assertEqual(
            services.mailbox_confirmation_resend(mailbox=first.mailbox, actor=TEST_ACTOR), reset
        )
