"""Deleting a mailbox (logins refused at once, its jobs stopped) and erasing its member's data
once the retention delay has passed (invariant 7), with a frozen clock."""

from datetime import timedelta
from unittest import mock

from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from accounts.models import Alias, Mailbox, Member
from accounts.services import member_update
from audit.models import Action, AuditRecord, Outcome
from memberrequests.models import MemberImport, MemberImportRow, MemberRequest
from provisioning import aliases, deletion, erasure, mailserver, mailsync, services
from provisioning.exceptions import TransientError
from provisioning.models import ProvisioningJob, SmsStatusEvent

from ..base import (
    DOMAIN,
    MEMBER,
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    deliver,
    send_email,
    sms_passwords,
)
from .doubles import ADDRESS, mailserver_refusing_connections

MARIE = f"marie@{DOMAIN}"
BUREAU = f"bureau@{DOMAIN}"
TRESORIER = f"tresorier@{DOMAIN}"
INFO = f"info@{DOMAIN}"
PERSONAL = (MEMBER["full_name"], MEMBER["personal_email"], MEMBER["phone"])


def later(days: float):
    """The clock, `days` from now: timezone.now() everywhere it is read."""
    moment = timezone.now() + timedelta(days=days)
    return mock.patch("django.utils.timezone.now", return_value=moment)


def delivered_pierre() -> Mailbox:
    return deliver(create_pierre()).mailbox


class MailboxDeleteTests(OctopusTestCase):
    def test_it_refuses_logins_at_once_and_keeps_the_address(self):
        mailbox = delivered_pierre()
        outcome = deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        mailbox.refresh_from_db()
        self.assertEqual(mailbox.status, Mailbox.Status.DELETED)
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        self.assertIsNone(mailbox.erased_at)
        self.assertEqual(outcome.erase_after, mailbox.deleted_at + timedelta(days=30))
        self.assertEqual(Member.objects.get().full_name, MEMBER["full_name"])  # kept 30 days
        [record] = AuditRecord.objects.filter(action=Action.MAILBOX_DELETE)
        self.assertEqual((record.target, record.actor_label, record.outcome),
                         (ADDRESS, "tests", Outcome.SUCCESS))  # fmt: skip
        self.assertEqual(str(record.get_action_display()), "adresse supprimée")
        self.assertIn("connexions refusées", record.detail)
        for personal in PERSONAL:
            self.assertNotIn(personal, record.detail)

    @override_settings(MEMBER_RETENTION_DAYS=7)
    def test_it_lists_the_aliases_that_reach_it_and_when_it_is_erased(self):
        delivered_pierre()
        aliases.alias_save(source=BUREAU, destinations=[ADDRESS], actor=TEST_ACTOR)
        aliases.alias_save(source=INFO, destinations=[BUREAU], actor=TEST_ACTOR)
        outcome = deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        self.assertEqual(outcome.reaching, (BUREAU, INFO))
        record = AuditRecord.objects.get(action=Action.MAILBOX_DELETE)
        self.assertIn(f"alias qui y mènent : {BUREAU}, {INFO}", record.detail)
        due = erasure.day(outcome.mailbox.deleted_at + timedelta(days=7))
        self.assertIn(f"données effacées le {due}", record.detail)

    def test_it_changes_nothing_when_the_mail_database_is_away(self):
        mailbox = delivered_pierre()
        with mailserver_refusing_connections(), self.assertRaises(TransientError):
            deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        mailbox.refresh_from_db()
        self.assertEqual((mailbox.status, mailbox.deleted_at), (Mailbox.Status.ACTIVE, None))
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])
        record = AuditRecord.objects.get(action=Action.MAILBOX_DELETE)
        self.assertEqual(record.outcome, Outcome.ERROR)

    def test_it_refuses_an_unknown_address_and_one_already_deleted(self):
        with self.assertRaisesMessage(ValidationError, "n'existe pas"):
            deletion.mailbox_delete(mailbox=f"personne@{DOMAIN}", actor=TEST_ACTOR)
        with self.assertRaisesMessage(ValidationError, "n'est pas une adresse complète"):
            deletion.mailbox_delete(mailbox="pierre", actor=TEST_ACTOR)
        delivered_pierre()
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        with self.assertRaisesMessage(ValidationError, "est déjà supprimée"):
            deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        outcomes = AuditRecord.objects.filter(action=Action.MAILBOX_DELETE).order_by("pk")
        self.assertEqual(
            list(outcomes.values_list("outcome", flat=True)),
            [Outcome.REFUSED, Outcome.REFUSED, Outcome.SUCCESS, Outcome.REFUSED],
        )

    def test_it_stops_the_job_in_flight_which_never_sends_its_sms(self):
        job = create_pierre()
        outcome = deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        job = deliver(job)
        self.assertEqual(job.state, "failed")
        self.assertIn("Adresse supprimée", job.last_error)
        self.assertEqual(sms_passwords(), [])
        self.assertIsNone(mailserver.user_row(ADDRESS))  # never written either
        self.assertEqual(outcome.reaching, ())

    def test_it_never_sends_the_sms_of_a_job_that_wrote_its_hash_during_the_deletion(self):
        job = create_pierre()
        write = mailserver.user_set_password

        def write_then_delete(**fields):
            write(**fields)  # the job's hash is committed; then the administrator deletes
            deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)

        with mock.patch.object(mailserver, "user_set_password", side_effect=write_then_delete):
            job = deliver(job)
        self.assertEqual(sms_passwords(), [])
        self.assertEqual(job.state, "failed")
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])

    def test_the_step_itself_refuses_a_deleted_mailbox_at_each_check(self):
        """Even for a job the deletion did not stop: at the claim, before the hash is written,
        and before the SMS."""
        deleted = Mailbox.objects.filter(local_part="pierre")
        job = create_pierre()
        deleted.update(status=Mailbox.Status.DELETED)
        self.assertIn("supprimée entre-temps", deliver(job).last_error)
        ProvisioningJob.objects.filter(pk=job.pk).update(state="queued", finished_at=None)
        deleted.update(status=Mailbox.Status.PENDING)
        hashing = mock.patch(
            "provisioning.passwords.hash_password",
            side_effect=lambda password: deleted.update(status="deleted") and "{X}hash",
        )
        with hashing:
            self.assertEqual(deliver(job).state, "failed")
        self.assertIsNone(mailserver.user_row(ADDRESS))
        ProvisioningJob.objects.filter(pk=job.pk).update(state="queued", finished_at=None)
        deleted.update(status=Mailbox.Status.PENDING)
        write = mailserver.user_set_password

        def write_then_mark_deleted(**fields):
            write(**fields)
            deleted.update(status=Mailbox.Status.DELETED)

        with mock.patch.object(
            mailserver, "user_set_password", side_effect=write_then_mark_deleted
        ):
            job = deliver(job)
        self.assertEqual((job.state, sms_passwords()), ("failed", []))
        self.assertIn("supprimée entre-temps", job.last_error)

    def test_the_step_sends_nothing_to_a_mailbox_disabled_while_its_hash_was_written(self):
        """The one-job path refuses it as the batch path does (batches._still_ours)."""
        job = create_pierre()
        write = mailserver.user_set_password

        def write_then_disable(**fields):
            write(**fields)
            Mailbox.objects.filter(local_part="pierre").update(status=Mailbox.Status.DISABLED)

        with mock.patch.object(mailserver, "user_set_password", side_effect=write_then_disable):
            job = deliver(job)
        self.assertEqual((job.state, sms_passwords()), ("failed", []))
        self.assertIn("désactivée entre-temps", job.last_error)

    def test_it_stops_the_email_after_the_sms(self):
        job = deliver(create_pierre())
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        job = send_email(job)
        self.assertEqual(job.email_status, "failed")

    def test_it_refuses_every_other_act_on_a_deleted_mailbox(self):
        delivered_pierre()
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        for act in (
            services.mailbox_password_reset, services.mailbox_disable,
            services.mailbox_enable, services.mailbox_confirmation_resend,
        ):  # fmt: skip
            with (
                self.subTest(act=act.__name__),
                self.assertRaisesMessage(ValidationError, "est supprimée"),
            ):
                act(mailbox=ADDRESS, actor=TEST_ACTOR)

    def test_it_never_gives_the_address_to_someone_else(self):
        delivered_pierre()
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        with self.assertRaisesMessage(ValidationError, "jamais redonnée"):
            create_pierre(full_name="Pierre Martin", personal_email="martin@example.org")
        with self.assertRaisesMessage(ValidationError, "est une adresse mail"):
            aliases.alias_save(source=ADDRESS, destinations=[MARIE], actor=TEST_ACTOR)

    def test_it_refuses_a_deleted_mailbox_as_an_alias_destination(self):
        delivered_pierre()
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        with self.assertRaisesMessage(ValidationError, f"{ADDRESS} est supprimée"):
            aliases.alias_save(source=BUREAU, destinations=[ADDRESS], actor=TEST_ACTOR)


class MailboxEraseTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.mailbox = delivered_pierre()
        self.job = self.mailbox.jobs.get()
        SmsStatusEvent.objects.create(message_sid=self.job.sms_message_id, status="delivered")
        create_pierre(local_part="marie", full_name="Marie Claire",
                      personal_email="marie@example.org", phone="+32470654321")  # fmt: skip
        self.sync(aliases.alias_save(source=BUREAU, destinations=[ADDRESS, MARIE],
                                     actor=TEST_ACTOR).alias)  # fmt: skip
        self.sync(aliases.alias_save(source=TRESORIER, destinations=[ADDRESS],
                                     actor=TEST_ACTOR).alias)  # fmt: skip
        self.sync(aliases.alias_save(source=INFO, destinations=[TRESORIER],
                                     actor=TEST_ACTOR).alias)  # fmt: skip
        MemberRequest.objects.create(kind="password", status="approved", mailbox=self.mailbox)
        member_import = MemberImport.objects.create(
            file_name="membres.csv", domain=self.domain, encoding="utf-8", delimiter=";"
        )
        MemberImportRow.objects.create(
            member_import=member_import, line=2, full_name=MEMBER["full_name"], local_part="pierre",
            domain=self.domain, personal_email=MEMBER["personal_email"], phone=MEMBER["phone"],
            status="created", mailbox=self.mailbox,
        )  # fmt: skip
        MemberRequest.objects.create(
            kind="address", status="refused", full_name=MEMBER["full_name"], local_part="pierre2",
            domain=self.domain, personal_email=MEMBER["personal_email"], phone=MEMBER["phone"],
        )  # fmt: skip
        # What the trail held before it kept the values out (invariant 7): erasure scrubs it.
        AuditRecord.objects.create(
            action=Action.PHONE_CHANGE,
            target=ADDRESS,
            actor_label="x",
            outcome=Outcome.SUCCESS,
            detail="+32470000000 → +32470123456",
        )
        AuditRecord.objects.create(
            action=Action.MAILBOX_CREATE,
            target=ADDRESS,
            actor_label="x",
            outcome=Outcome.SUCCESS,
            detail="membre Pierre Dupont; envoi n°1",
        )
        AuditRecord.objects.create(action=Action.ALIAS_CREATE, target=f"famille@{DOMAIN}",
                                   actor_label="x", outcome=Outcome.SUCCESS,
                                   detail=f"→ {MEMBER['personal_email']}")  # fmt: skip
        ProvisioningJob.objects.filter(pk=self.job.pk).update(
            last_error=f"Le serveur d'envoi refuse l'adresse {MEMBER['personal_email']}."
        )

    @staticmethod
    def sync(alias: Alias) -> None:
        mailsync.alias_sync(alias_id=alias.pk)  # the worker's copy, run by hand

    def assert_nothing_personal_left(self):
        member = Member.objects.get(pk=self.mailbox.member_id)
        self.assertEqual((member.full_name, member.personal_email, str(member.phone)),
                         ("membre effacé", "", ""))  # fmt: skip
        self.assertIsNotNone(member.erased_at)
        held = [
            *AuditRecord.objects.values_list("target", "detail"),
            *ProvisioningJob.objects.filter(mailbox=self.mailbox).values_list("last_error"),
            *MemberRequest.objects.values_list("full_name", "personal_email", "phone"),
            *MemberImportRow.objects.values_list("full_name", "personal_email", "phone"),
        ]
        text = " ".join(str(value) for row in held for value in row)
        for personal in PERSONAL:
            self.assertNotIn(personal, text)

    def test_it_erases_nothing_before_the_retention_delay(self):
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        with later(29.9):
            report = erasure.mailboxes_erase_due(actor=TEST_ACTOR)
        self.assertEqual((report.erased, report.failed), ([], []))
        self.assertIsNotNone(mailserver.user_row(ADDRESS))
        self.assertEqual(Member.objects.get(pk=self.mailbox.member_id).full_name, "Pierre Dupont")

    def test_it_erases_everything_once_the_clock_is_past_retention(self):
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        with later(30.1), self.captureOnCommitCallbacks() as rung:
            report = erasure.mailboxes_erase_due(actor=TEST_ACTOR)
        self.assertEqual((report.erased, report.failed), ([ADDRESS], []))
        self.mailbox.refresh_from_db()
        self.assertIsNotNone(self.mailbox.erased_at)
        self.assertEqual(self.mailbox.status, Mailbox.Status.DELETED)  # the address stays
        self.assertIsNone(mailserver.user_row(ADDRESS))
        self.assert_nothing_personal_left()
        self.assertFalse(SmsStatusEvent.objects.exists())
        self.assertEqual(MemberRequest.objects.count(), 0)
        self.assertEqual(
            self.job.sms_message_id, ProvisioningJob.objects.get(pk=self.job.pk).sms_message_id
        )
        # The aliases: bureau@ keeps marie@; tresorier@ had only pierre@ and goes, and info@,
        # which led only to tresorier@, with it. Then the worker copies it to the mail table.
        for callback in rung:
            callback()
        for alias in Alias.objects.all():
            self.sync(alias)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [MARIE])
        self.assertEqual((mailserver.alias_row(TRESORIER), mailserver.alias_row(INFO)),
                         (None, None))  # fmt: skip
        self.assertEqual(list(Alias.objects.values_list("local_part", flat=True)), ["bureau"])
        # The audit still shows the deletion and the erasure: address and actor, nothing else.
        for action in (Action.MAILBOX_DELETE, Action.MAILBOX_ERASE):
            record = AuditRecord.objects.get(action=action)
            self.assertEqual((record.target, record.actor_label), (ADDRESS, "tests"))
        erased = AuditRecord.objects.get(action=Action.MAILBOX_ERASE)
        self.assertIn("entrée(s) du journal expurgée(s)", erased.detail)
        self.assertEqual(
            AuditRecord.objects.get(action=Action.PHONE_CHANGE).detail,
            "détail effacé avec les données du membre",
        )
        self.assertEqual(
            AuditRecord.objects.get(action=Action.MAILBOX_CREATE, actor_label="x").detail,
            "membre [effacé]; envoi n°1",
        )
        # Marie, who shares nothing with Pierre, keeps everything.
        marie = Member.objects.get(full_name="Marie Claire")
        self.assertEqual(marie.personal_email, "marie@example.org")

    def test_it_erases_at_once_on_a_confirmed_choice(self):
        outcome = deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        self.assertTrue(outcome.erased.row_removed)
        self.assertEqual(outcome.erased.aliases_changed, (BUREAU,))
        self.assertEqual(outcome.erased.aliases_deleted, (TRESORIER, INFO))
        self.assertIsNone(outcome.erase_after)
        self.assert_nothing_personal_left()

    def test_it_erases_a_mailbox_deleted_before_with_now(self):
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        self.assert_nothing_personal_left()
        self.assertEqual(AuditRecord.objects.filter(action=Action.MAILBOX_DELETE).count(), 1)

    def test_it_refuses_a_mailbox_not_deleted_or_already_erased(self):
        with self.assertRaisesMessage(ValidationError, "n'est pas supprimée"):
            erasure.mailbox_erase(mailbox=ADDRESS, actor=TEST_ACTOR)
        self.assertEqual(Member.objects.get(pk=self.mailbox.member_id).full_name, "Pierre Dupont")
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        with self.assertRaisesMessage(ValidationError, "sont déjà effacées"):
            erasure.mailbox_erase(mailbox=ADDRESS, actor=TEST_ACTOR)
        with self.assertRaisesMessage(ValidationError, "sont déjà effacées"):
            deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        with self.assertRaisesMessage(ValidationError, "et ses données sont effacées (le "):
            deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)

    def test_it_erases_nothing_while_the_mail_database_is_away_and_retries_later(self):
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        with later(31), mailserver_refusing_connections():
            report = erasure.mailboxes_erase_due(actor=TEST_ACTOR)
        self.assertEqual(report.erased, [])
        self.assertEqual([address for address, _why in report.failed], [ADDRESS])
        self.assertEqual(Member.objects.get(pk=self.mailbox.member_id).full_name, "Pierre Dupont")
        with later(32):
            self.assertEqual(erasure.mailboxes_erase_due(actor=TEST_ACTOR).erased, [ADDRESS])
        self.assert_nothing_personal_left()

    def test_it_keeps_the_member_while_another_of_their_mailboxes_lives(self):
        other = Mailbox.objects.create(local_part="pierre.d", domain=self.domain,
                                       member_id=self.mailbox.member_id)  # fmt: skip
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        member = Member.objects.get(pk=self.mailbox.member_id)
        self.assertEqual((member.full_name, member.erased_at), ("Pierre Dupont", None))
        deletion.mailbox_delete(mailbox=other, actor=TEST_ACTOR, erase_now=True)
        self.assert_nothing_personal_left()

    def test_it_refuses_to_change_an_erased_member(self):
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        member = Member.objects.get(pk=self.mailbox.member_id)
        with self.assertRaisesMessage(ValidationError, "ont été effacées"):
            member_update(member=member, full_name="Pierre Dupont", phone=MEMBER["phone"],
                          personal_email=MEMBER["personal_email"], actor=TEST_ACTOR)  # fmt: skip

    def test_it_lists_the_maildirs_erased_since_a_date(self):
        before = timezone.now() - timedelta(seconds=1)
        self.assertEqual(erasure.erased_maildirs(since=before), [])
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR)
        self.assertEqual(erasure.erased_maildirs(since=before), [])  # deleted, not erased
        deletion.mailbox_delete(mailbox=ADDRESS, actor=TEST_ACTOR, erase_now=True)
        self.assertEqual(erasure.erased_maildirs(since=before), [f"{DOMAIN}/pierre/"])
        self.assertEqual(erasure.erased_maildirs(since=timezone.now() + timedelta(hours=1)), [])
