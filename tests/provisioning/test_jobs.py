"""The worker's job, step by step: claim, hash and commit, SMS, then the email."""

import smtplib
import uuid
from datetime import timedelta
from unittest import mock

from django.conf import settings
from django.core import mail
from django.db import connections
from django.test import override_settings
from django.utils import timezone

from accounts.models import Mailbox
from provisioning import mailserver, passwords, services, steps, tasks
from provisioning.exceptions import PermanentError, TransientError
from provisioning.models import ProvisioningJob
from provisioning.sms import locmem

from ..base import (
    PASSWORD_IN_SMS,
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    deliver,
    retry_is_due,
    send_email,
    sms_passwords,
)
from .doubles import ADDRESS, mailserver_refusing_connections, published_tasks, task_calls

HERE = __name__
PROVIDER_DOWN = "Le fournisseur de SMS ne répond pas ; nouvel essai automatique."
BAD_NUMBER = "Le fournisseur de SMS refuse ce numéro : il n'existe pas."


def password_in(body: str) -> str:
    return PASSWORD_IN_SMS.search(body).group(1)


class HashCheckingSmsBackend(locmem.SmsBackend):
    """Looks at the mail table when asked to send: the hash must already be committed."""

    seen: list[dict] = []

    def send(self, *, to, body):
        row = mailserver.user_row(ADDRESS)
        self.seen.append(
            {
                "verifies": row is not None
                and passwords.verify(password_in(body), row["password"]),
                "mail_db_atomic_blocks": len(connections[mailserver.ALIAS].atomic_blocks),
            }
        )
        return super().send(to=to, body=body)


class FlakySmsBackend(locmem.SmsBackend):
    """Refuses the first `failures` messages with a TransientError, then sends."""

    failures = 1
    refused: list[str] = []

    def send(self, *, to, body):
        if len(self.refused) < self.failures:
            self.refused.append(body)
            raise TransientError(PROVIDER_DOWN)
        return super().send(to=to, body=body)


class RefusingSmsBackend(locmem.SmsBackend):
    def send(self, *, to, body):
        raise PermanentError(BAD_NUMBER)


class JobTestCase(OctopusTestCase):
    def setUp(self):
        super().setUp()
        HashCheckingSmsBackend.seen = []
        FlakySmsBackend.refused = []
        FlakySmsBackend.failures = 1
        self.job = create_pierre()

    def row(self) -> dict:
        return mailserver.user_row(ADDRESS)

    def age(self, **fields_and_seconds) -> None:
        """Move timestamps of the job into the past, as if the time had passed."""
        now = timezone.now()
        ProvisioningJob.objects.filter(pk=self.job.pk).update(
            **{field: now - timedelta(seconds=s) for field, s in fields_and_seconds.items()}
        )


class DeliverPasswordTests(JobTestCase):
    def test_it_texts_a_password_whose_hash_is_in_the_mail_table(self):
        job = deliver(self.job)
        [sms] = locmem.outbox
        self.assertEqual(sms["to"], "+32470123456")
        self.assertIn(ADDRESS, sms["body"])
        self.assertTrue(passwords.verify(password_in(sms["body"]), self.row()["password"]))
        self.assertTrue(self.row()["active"])
        self.assertEqual((job.state, job.attempts, job.last_error), ("done", 1, ""))
        self.assertEqual((job.sms_message_id, job.sms_status), (sms["message_id"], "sent"))
        self.assertIsNotNone(job.sms_sent_at)
        self.assertIsNone(job.claim_token)

    def test_it_never_reenables_a_mailbox_disabled_while_the_job_hashes(self):
        deliver(self.job)
        reset = services.mailbox_password_reset(mailbox=Mailbox.objects.get(), actor=TEST_ACTOR).job
        hash_password = passwords.hash_password

        def disabled_meanwhile(password):
            # The job has passed its "disabled?" check; the administrator clicks now.
            services.mailbox_disable(mailbox=ADDRESS, actor=TEST_ACTOR)
            return hash_password(password)

        with mock.patch("provisioning.passwords.hash_password", side_effect=disabled_meanwhile):
            deliver(reset)
        self.assertFalse(self.row()["active"])
        self.assertEqual(Mailbox.objects.get().status, "disabled")

    def test_it_runs_the_whole_job_from_the_sms_to_the_email(self):
        job = send_email(deliver(self.job))
        [password] = sms_passwords()
        self.assertTrue(passwords.verify(password, self.row()["password"]))
        self.assertEqual((job.state, job.email_status), ("done", "sent"))

    @override_settings(SMS_BACKEND=f"{HERE}.HashCheckingSmsBackend")
    def test_it_commits_the_hash_before_sending_the_sms(self):
        outside = len(connections[mailserver.ALIAS].atomic_blocks)  # the test's own
        deliver(self.job)
        self.assertEqual(
            HashCheckingSmsBackend.seen, [{"verifies": True, "mail_db_atomic_blocks": outside}]
        )

    def test_it_activates_the_mailbox_after_the_first_delivery(self):
        self.assertEqual(self.job.mailbox.status, "pending")
        deliver(self.job)
        self.assertEqual(Mailbox.objects.get().status, "active")

    def test_it_queues_the_email_once_the_sms_is_accepted(self):
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            job = deliver(self.job)
        self.assertEqual((job.email_status, job.email_attempts), ("queued", 0))
        self.assertEqual(task_calls(published), [("provisioning.send_job_email", [job.pk], {})])

    def test_it_sends_one_sms_when_the_task_runs_twice(self):
        deliver(self.job)
        stored = self.row()["password"]
        deliver(self.job)
        self.assertEqual(len(locmem.outbox), 1)
        self.assertEqual(self.row()["password"], stored)

    def test_it_sends_a_new_password_for_a_reset(self):
        first = deliver(self.job)
        reset = services.mailbox_password_reset(mailbox=Mailbox.objects.get(), actor=TEST_ACTOR).job
        deliver(reset)
        old, new = sms_passwords()
        self.assertNotEqual(old, new)
        self.assertFalse(passwords.verify(old, self.row()["password"]))
        self.assertTrue(passwords.verify(new, self.row()["password"]))
        self.assertIn("nouveau mot de passe", locmem.outbox[1]["body"])
        self.assertNotEqual(first.pk, reset.pk)

    def test_it_fails_a_disabled_mailbox_without_any_sms(self):
        Mailbox.objects.update(status="disabled")
        job = deliver(self.job)
        self.assertEqual(job.state, "failed")
        self.assertIn("Adresse désactivée", job.last_error)
        self.assertEqual(locmem.outbox, [])
        self.assertIsNone(self.row())


@override_settings(SMS_BACKEND=f"{HERE}.FlakySmsBackend")
class TransientFailureTests(JobTestCase):
    def test_it_puts_the_job_back_in_the_queue_and_raises_for_celery(self):
        before = timezone.now()
        with self.assertRaises(TransientError):
            tasks.deliver_password(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual((self.job.state, self.job.attempts), ("queued", 1))
        self.assertEqual(self.job.last_error, PROVIDER_DOWN)
        self.assertGreater(self.job.next_attempt_at, before)
        self.assertIsNone(self.job.claim_token)
        self.assertEqual(locmem.outbox, [])

    def test_it_retries_with_a_new_password_whose_hash_replaced_the_old(self):
        with self.assertRaises(TransientError):
            tasks.deliver_password(self.job.pk)
        [refused] = FlakySmsBackend.refused
        job = deliver(self.job)
        [sent] = sms_passwords()
        self.assertEqual((job.state, job.attempts, job.last_error), ("done", 2, ""))
        self.assertNotEqual(sent, password_in(refused))
        self.assertFalse(passwords.verify(password_in(refused), self.row()["password"]))
        self.assertTrue(passwords.verify(sent, self.row()["password"]))

    def test_it_keeps_trying_past_any_count_while_time_remains(self):
        FlakySmsBackend.failures = 99
        for _attempt in range(12):  # twice production's former limit of 6 attempts
            retry_is_due(self.job)
            with self.assertRaises(TransientError):
                tasks.deliver_password(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual((self.job.state, self.job.attempts), ("queued", 12))
        self.assertIsNotNone(self.job.retrying_since)

    @override_settings(PROVISIONING_GIVE_UP_AFTER=3600)
    def test_it_gives_up_once_the_step_has_failed_for_longer_than_the_limit(self):
        FlakySmsBackend.failures = 99
        for _attempt in range(2):
            retry_is_due(self.job)
            with self.assertRaises(TransientError):
                tasks.deliver_password(self.job.pk)
        self.age(retrying_since=3600)  # an hour of failures has passed
        job = deliver(self.job)  # this attempt gives up instead of raising
        self.assertEqual((job.state, job.attempts), ("failed", 3))
        self.assertEqual(job.last_error, f"Abandon après 3 tentatives en 60 min : {PROVIDER_DOWN}")
        self.assertIsNotNone(job.finished_at)
        deliver(job)
        self.assertEqual(len(FlakySmsBackend.refused), 3)

    def test_it_starts_the_clock_again_for_the_email_step(self):
        FlakySmsBackend.failures = 1
        with self.assertRaises(TransientError):
            tasks.deliver_password(self.job.pk)
        job = deliver(self.job)
        self.assertEqual((job.state, job.retrying_since), ("done", None))

    def test_it_ignores_a_doorbell_that_rings_during_the_backoff(self):
        # The first SMS may still be on its way at Twilio after a timeout: a new password
        # sent now could arrive first and leave the member with the dead one.
        with self.assertRaises(TransientError):
            tasks.deliver_password(self.job.pk)
        tasks.deliver_password(self.job.pk)  # a duplicate message, or a sweep, rings early
        self.job.refresh_from_db()
        self.assertEqual((self.job.state, self.job.attempts), ("queued", 1))
        self.assertEqual(len(FlakySmsBackend.refused) + len(locmem.outbox), 1)
        self.assertEqual(deliver(self.job).state, "done")  # the retry, at its time

    def test_it_schedules_the_retry_message_for_the_jobs_due_time(self):
        # The step hands the task its countdown on the error: no query to ask for it.
        with self.assertRaises(TransientError) as caught:
            tasks.deliver_password(self.job.pk)
        self.assertEqual(caught.exception.countdown, 10)  # PROVISIONING_RETRY_BACKOFF
        self.job.refresh_from_db()
        due_in = (self.job.next_attempt_at - timezone.now()).total_seconds()
        self.assertTrue(9 < due_in <= 10, due_in)

    def test_it_lets_the_retry_come_before_the_sweep(self):
        with self.assertRaises(TransientError):
            tasks.deliver_password(self.job.pk)
        self.assertEqual(steps.jobs_sweep(), {"password": 0, "email": 0, "redaction": 0})

    def test_it_retries_when_the_mail_database_is_down_and_sends_nothing(self):
        with mailserver_refusing_connections(), self.assertRaises(TransientError):
            tasks.deliver_password(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual(self.job.state, "queued")
        self.assertIn("serveur mail ne répond pas", self.job.last_error)
        self.assertEqual(FlakySmsBackend.refused + locmem.outbox, [])


@override_settings(SMS_BACKEND=f"{HERE}.RefusingSmsBackend")
class PermanentFailureTests(JobTestCase):
    def test_it_fails_the_job_with_the_reason_and_does_not_retry(self):
        tasks.deliver_password(self.job.pk)  # no exception: Celery must not retry
        self.job.refresh_from_db()
        self.assertEqual((self.job.state, self.job.attempts), ("failed", 1))
        self.assertEqual(self.job.last_error, BAD_NUMBER)
        self.assertEqual(self.job.email_status, "waiting")
        self.assertEqual(steps.jobs_sweep(), {"password": 0, "email": 0, "redaction": 0})

    def test_it_leaves_the_mailbox_waiting_for_its_first_password(self):
        tasks.deliver_password(self.job.pk)
        mailbox = Mailbox.objects.get()
        self.assertEqual(mailbox.status, "pending")
        # So the next attempt sends the creation email with the settings, not a reset notice.
        self.assertEqual(
            services.mailbox_password_reset(mailbox=mailbox, actor=TEST_ACTOR).job.kind, "create"
        )


class LostMessageTests(JobTestCase):
    def test_it_recovers_a_stale_claim_with_the_sweep(self):
        ProvisioningJob.objects.filter(pk=self.job.pk).update(state="running", attempts=1)
        self.age(claimed_at=settings.PROVISIONING_CLAIM_TIMEOUT + 1)
        deliver(self.job)
        self.assertEqual(locmem.outbox, [])  # the claim is someone else's until the sweep
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(steps.jobs_sweep(), {"password": 1, "email": 0, "redaction": 0})
        self.assertEqual(
            task_calls(published), [("provisioning.deliver_password", [self.job.pk], {})]
        )
        job = deliver(self.job)
        deliver(job)
        self.assertEqual((job.state, job.attempts, len(locmem.outbox)), ("done", 2, 1))

    def test_it_leaves_a_fresh_claim_alone(self):
        ProvisioningJob.objects.filter(pk=self.job.pk).update(state="running")
        self.age(claimed_at=settings.PROVISIONING_CLAIM_TIMEOUT - 30)
        self.assertEqual(steps.jobs_sweep(), {"password": 0, "email": 0, "redaction": 0})

    def test_it_rings_again_for_a_queued_job_once_per_grace_period(self):
        self.age(updated_at=settings.PROVISIONING_QUEUED_GRACE + 1)
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            first = steps.jobs_sweep()
            second = steps.jobs_sweep()
        self.assertEqual((first["password"], second["password"]), (1, 0))
        self.assertEqual(
            task_calls(published), [("provisioning.deliver_password", [self.job.pk], {})]
        )

    def test_it_leaves_a_freshly_queued_job_to_its_doorbell(self):
        self.assertEqual(steps.jobs_sweep(), {"password": 0, "email": 0, "redaction": 0})

    def test_it_rings_again_for_a_lost_email(self):
        job = deliver(self.job)
        self.age(updated_at=settings.PROVISIONING_QUEUED_GRACE + 1)
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(steps.jobs_sweep(), {"password": 0, "email": 1, "redaction": 0})
        self.assertEqual(task_calls(published), [("provisioning.send_job_email", [job.pk], {})])


class LostClaimTests(JobTestCase):
    """A worker whose claim was taken over (swept, then claimed anew) must step aside."""

    def take_claim_over(self):
        ProvisioningJob.objects.filter(pk=self.job.pk).update(claim_token=uuid.uuid4())

    def test_it_sends_no_sms_after_losing_its_claim(self):
        real = mailserver.user_set_password

        def write_then_lose_claim(**kwargs):
            real(**kwargs)
            self.take_claim_over()

        with self.patch("provisioning.mailserver.user_set_password", write_then_lose_claim):
            job = deliver(self.job)
        self.assertEqual(locmem.outbox, [])
        self.assertEqual(job.state, "running")  # still the newer worker's

    def test_it_keeps_the_newer_workers_hash_when_it_lost_the_claim_before_writing(self):
        newer = passwords.hash_password("k7dmx-3qp9w-teh4n-c2rfa")
        mailserver.user_set_password(address=ADDRESS, password_hash=newer)
        real = passwords.hash_password

        def hash_slowly_and_lose_claim(password, **kwargs):
            self.take_claim_over()  # a slow hash: the sweep and another worker got there first
            return real(password, **kwargs)

        with self.patch("provisioning.passwords.hash_password", hash_slowly_and_lose_claim):
            deliver(self.job)
        self.assertEqual(self.row()["password"], newer)
        self.assertEqual(locmem.outbox, [])

    def patch(self, target, replacement):
        return mock.patch(target, side_effect=replacement)


class SendEmailTests(JobTestCase):
    SETTINGS_IN_TEXT = (
        "Bonjour Pierre Dupont,",
        f"Nom d'utilisateur : {ADDRESS} (l'adresse complète)",
        "Réception (IMAP) : octopus-soignies.be, port 993, SSL/TLS",
        "Envoi (SMTP) : octopus-soignies.be, port 465, SSL/TLS",
        "Webmail (Roundcube) : https://mail.octopus-soignies.be/",
        "Nom d'utilisateur : pierre (sans @octopus-soignies.be)",
        "Cloud (Nextcloud) : https://cloud.octopus-soignies.be",
        "envoyé par SMS au +32 4•• •• •• 56",
    )
    SETTINGS_IN_HTML = (
        f"<strong>{ADDRESS}</strong> (l'adresse complète)",
        "Réception (IMAP)</td><td>octopus-soignies.be, port 993, SSL/TLS",
        "Envoi (SMTP)</td><td>octopus-soignies.be, port 465, SSL/TLS",
        'href="https://mail.octopus-soignies.be/"',
        "nom d'utilisateur <strong>pierre</strong>",
        "<strong>+32 4•• •• •• 56</strong>",
    )

    def setUp(self):
        super().setUp()
        self.job = deliver(self.job)

    def test_it_emails_the_settings_after_a_creation(self):
        job = send_email(self.job)
        [message] = mail.outbox
        self.assertEqual(message.to, ["pierre@example.org"])
        self.assertEqual(
            message.subject, f"Votre adresse {ADDRESS} est prête / Your address {ADDRESS} is ready"
        )
        for text in self.SETTINGS_IN_TEXT:
            self.assertIn(text, message.body)
        [(html, mimetype)] = message.alternatives
        self.assertEqual(mimetype, "text/html")
        for text in self.SETTINGS_IN_HTML:
            self.assertIn(text, html)
        self.assertEqual((job.email_status, job.email_attempts), ("sent", 1))
        self.assertIsNotNone(job.email_sent_at)

    def test_it_emails_a_shorter_notice_after_a_reset(self):
        send_email(self.job)
        reset = services.mailbox_password_reset(mailbox=Mailbox.objects.get(), actor=TEST_ACTOR).job
        send_email(deliver(reset))
        creation, notice = mail.outbox
        self.assertEqual(notice.to, ["pierre@example.org"])
        self.assertEqual(
            notice.subject, f"Nouveau mot de passe pour {ADDRESS} / New password for {ADDRESS}"
        )
        self.assertIn("a été réinitialisé", notice.body)
        self.assertIn(
            "envoyé par SMS au +32 4•• •• •• 56 ; l'ancien ne fonctionne plus", notice.body
        )
        self.assertNotIn("Réception (IMAP)", notice.body)
        self.assertLess(len(notice.body), len(creation.body) / 2)

    def test_it_waits_for_the_sms_before_emailing(self):
        waiting = create_pierre(local_part="marie")
        send_email(waiting)
        self.assertEqual(mail.outbox, [])

    def test_it_retries_only_the_email_step_on_a_transient_error(self):
        with mock.patch("provisioning.emails.EmailMultiAlternatives.send", side_effect=OSError):
            with self.assertRaises(TransientError):
                tasks.send_job_email(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual((self.job.state, self.job.email_status), ("done", "queued"))
        self.assertIn("Le serveur d'envoi des emails ne répond pas", self.job.last_error)
        deliver(self.job)
        job = send_email(self.job)
        self.assertEqual((job.email_status, job.email_attempts), ("sent", 2))
        self.assertEqual((len(locmem.outbox), len(mail.outbox)), (1, 1))

    def test_it_stops_when_the_personal_address_is_refused(self):
        refused = smtplib.SMTPRecipientsRefused({"pierre@example.org": (550, b"no such user")})
        with mock.patch("provisioning.emails.EmailMultiAlternatives.send", side_effect=refused):
            job = send_email(self.job)  # no exception: no retry
        self.assertEqual((job.state, job.email_status), ("done", "failed"))
        self.assertIn("refuse l'adresse pierre@example.org", job.last_error)
