"""The password step on a batch: every invariant of the one-job path, job by job."""

import smtplib
import threading
import time
import uuid
from unittest import mock

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.db import connection, connections, transaction
from django.test import TransactionTestCase, override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import Mailbox
from provisioning import batches, emails, mailserver, passwords, steps, tasks
from provisioning.exceptions import PermanentError, TransientError
from provisioning.models import PASSWORD_STEP, ProvisioningJob
from provisioning.sms import locmem

from ..base import (
    OctopusTestCase,
    create_pierre,
    deliver,
    retry_is_due,
    send_email,
    sms_passwords,
    the_domain,
)
from .doubles import mailserver_refusing_connections, published_tasks, task_calls
from .test_invariants import every_log_record

HERE = __name__
DOMAIN = "octopus-soignies.be"
MEMBERS = ("pierre", "marie", "jean")
PHONES = {"pierre": "+32470123456", "marie": "+32470123457", "jean": "+32470123458"}
PROVIDER_DOWN = "Le fournisseur de SMS ne répond pas ; nouvel essai automatique."
BAD_NUMBER = "Le fournisseur de SMS refuse ce numéro : il n'existe pas."


def create_members(*names: str) -> dict[str, ProvisioningJob]:
    return {
        name: create_pierre(
            local_part=name,
            full_name=f"{name.title()} Dupont",
            personal_email=f"{name}@example.org",
            phone=PHONES.get(name, "+32470123459"),
        )
        for name in names
    }


def address(name: str) -> str:
    return f"{name}@{DOMAIN}"


def texted() -> dict[str, str]:
    """{phone: the password of the last SMS to it}."""
    return dict(zip([m["to"] for m in locmem.outbox], sms_passwords(), strict=True))


class MarieSmsBackend(locmem.SmsBackend):
    """Sends to everyone, except that Marie's number fails with `error` (if set)."""

    error: Exception | None = None

    def send(self, *, to, body):
        if to == PHONES["marie"] and self.error is not None:
            raise self.error
        return super().send(to=to, body=body)


class BatchTestCase(OctopusTestCase):
    def setUp(self):
        super().setUp()
        MarieSmsBackend.error = None
        self.jobs = create_members(*MEMBERS)

    def state(self, name: str) -> ProvisioningJob:
        return ProvisioningJob.objects.get(pk=self.jobs[name].pk)

    def deliver_batch(self) -> None:
        """Pierre's doorbell rings; Marie's and Jean's jobs are due too."""
        with self.captureOnCommitCallbacks(execute=True):
            tasks.deliver_password(self.jobs["pierre"].pk)


class BatchClaimTests(BatchTestCase):
    def test_it_claims_the_due_jobs_in_one_statement_its_own_first(self):
        marie = self.jobs["marie"].pk
        with CaptureQueriesContext(connection) as queries:
            jobs = ProvisioningJob.objects.claim_batch(marie, PASSWORD_STEP, limit=10)
        updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
        self.assertEqual(len(updates), 1)
        if connection.vendor == "postgresql":  # SQLite locks the whole file: nothing to skip
            self.assertIn("SKIP LOCKED", updates[0])
        self.assertEqual(jobs[0].pk, marie)
        self.assertEqual({job.pk for job in jobs}, {job.pk for job in self.jobs.values()})
        claimed = ProvisioningJob.objects.filter(state="running")
        self.assertEqual(claimed.count(), 3)
        self.assertEqual(len({(j.claim_token, j.claimed_at, j.attempts) for j in claimed}), 1)

    def test_it_claims_no_more_than_the_batch_size(self):
        jobs = ProvisioningJob.objects.claim_batch(self.jobs["jean"].pk, PASSWORD_STEP, limit=2)
        self.assertEqual([job.pk for job in jobs][0], self.jobs["jean"].pk)
        self.assertEqual(len(jobs), 2)
        self.assertEqual(ProvisioningJob.objects.filter(state="queued").count(), 1)

    def test_it_claims_nothing_when_its_own_job_is_not_claimable(self):
        ProvisioningJob.objects.claim(self.jobs["pierre"].pk, PASSWORD_STEP)
        jobs = ProvisioningJob.objects.claim_batch(self.jobs["pierre"].pk, PASSWORD_STEP, limit=10)
        self.assertEqual(jobs, [])
        self.assertEqual(ProvisioningJob.objects.filter(state="queued").count(), 2)

    def test_it_leaves_a_job_waiting_out_its_backoff(self):
        with override_settings(SMS_BACKEND=f"{HERE}.MarieSmsBackend"):
            MarieSmsBackend.error = TransientError(PROVIDER_DOWN)
            self.deliver_batch()
        jean = create_members("jean2")["jean2"]
        jobs = ProvisioningJob.objects.claim_batch(jean.pk, PASSWORD_STEP, limit=10)
        self.assertEqual([job.pk for job in jobs], [jean.pk])  # Marie's retry is not due

    def test_it_makes_a_duplicate_doorbell_a_no_op(self):
        self.deliver_batch()
        self.assertEqual(len(locmem.outbox), 3)
        stored = mailserver.user_row(address("marie"))["password"]
        for job in self.jobs.values():
            with self.captureOnCommitCallbacks(execute=True):
                tasks.deliver_password(job.pk)
        self.assertEqual(len(locmem.outbox), 3)
        self.assertEqual(mailserver.user_row(address("marie"))["password"], stored)

    def test_it_takes_the_one_job_path_when_nothing_else_is_due(self):
        ProvisioningJob.objects.exclude(pk=self.jobs["pierre"].pk).update(state="failed")
        with mock.patch.object(batches, "deliver_passwords") as batch_path:
            job = deliver(self.jobs["pierre"])
        batch_path.assert_not_called()
        self.assertEqual((job.state, len(locmem.outbox)), ("done", 1))

    def test_it_takes_back_a_stale_batch_with_the_sweep(self):
        jobs = ProvisioningJob.objects.claim_batch(self.jobs["pierre"].pk, PASSWORD_STEP, limit=9)
        self.assertEqual(len(jobs), 3)  # then the worker dies
        stale = settings.PROVISIONING_CLAIM_TIMEOUT + 1
        ProvisioningJob.objects.update(claimed_at=time_ago(stale))
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(steps.jobs_sweep()["password"], 3)
        self.assertEqual(len(task_calls(published)), 3)
        self.deliver_batch()
        self.assertEqual(set(ProvisioningJob.objects.values_list("state", "attempts")),
                         {("done", 2)})  # fmt: skip
        self.assertEqual(len(locmem.outbox), 3)


def time_ago(seconds: float):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(seconds=seconds)


@override_settings(SMS_BACKEND=f"{HERE}.MarieSmsBackend")
class BatchDeliveryTests(BatchTestCase):
    def test_it_texts_each_member_a_password_whose_hash_is_in_the_mail_table(self):
        with published_tasks() as published:
            self.deliver_batch()
        sent = texted()
        self.assertEqual(set(sent), set(PHONES.values()))
        for name in MEMBERS:
            row = mailserver.user_row(address(name))
            self.assertTrue(passwords.verify(sent[PHONES[name]], row["password"]), name)
            job = self.state(name)
            self.assertEqual(
                (job.state, job.email_status, job.claim_token), ("done", "queued", None)
            )
            self.assertTrue(job.sms_message_id.startswith("LM"))
        self.assertEqual(Mailbox.objects.filter(status="active").count(), 3)
        emails = [c for c in task_calls(published) if c[0] == "provisioning.send_job_email"]
        self.assertEqual(sorted(args[0] for _n, args, _k in emails),
                         sorted(job.pk for job in self.jobs.values()))  # fmt: skip

    def test_it_uses_the_same_statements_for_three_jobs_as_for_six(self):
        counts = []
        for names in (("paul", "anne", "luc"), ("eve", "ines", "noe", "rose", "yves", "zoe")):
            ProvisioningJob.objects.filter(state="queued").update(state="failed")
            jobs = create_members(*names)
            app, mail = (
                CaptureQueriesContext(connection),
                CaptureQueriesContext(connections[mailserver.ALIAS]),
            )
            with app, mail, self.captureOnCommitCallbacks(execute=True):
                tasks.deliver_password(jobs[names[0]].pk)
            self.assertEqual(len(locmem.outbox), len(names))
            locmem.outbox.clear()
            counts.append((statements(app), statements(mail)))
        self.assertEqual(counts[0], counts[1])
        # claim, read, claims twice, mailboxes, finish, early callbacks; domains, users, check
        self.assertEqual(counts[0], (7, 3))

    def test_it_releases_the_whole_batch_when_the_mail_table_is_down(self):
        with published_tasks() as published, mailserver_refusing_connections():
            self.deliver_batch()  # no exception: each job is rung again for its own time
        for name in MEMBERS:
            job = self.state(name)
            self.assertEqual((job.state, job.attempts, job.claim_token), ("queued", 1, None))
            self.assertIn("serveur mail ne répond pas", job.last_error)
            self.assertIsNotNone(job.next_attempt_at)
        self.assertEqual(locmem.outbox, [])
        retries = [m for m in published if m["headers"].get("eta")]
        self.assertEqual(sorted(m["body"][0][0] for m in retries),
                         sorted(job.pk for job in self.jobs.values()))  # fmt: skip

    def test_it_retries_only_the_job_whose_sms_failed_transiently(self):
        MarieSmsBackend.error = TransientError(PROVIDER_DOWN)
        with published_tasks() as published:
            self.deliver_batch()
        marie = self.state("marie")
        self.assertEqual((marie.state, marie.last_error), ("queued", PROVIDER_DOWN))
        self.assertEqual({self.state(n).state for n in ("pierre", "jean")}, {"done"})
        [retry] = [m for m in published if m["headers"].get("eta")]
        self.assertEqual(list(retry["body"][0]), [marie.pk])
        MarieSmsBackend.error = None
        retry_is_due(marie)
        self.assertEqual(deliver(marie).state, "done")
        row = mailserver.user_row(address("marie"))
        self.assertTrue(passwords.verify(texted()[PHONES["marie"]], row["password"]))

    def test_it_fails_only_the_job_whose_sms_was_refused(self):
        MarieSmsBackend.error = PermanentError(BAD_NUMBER)
        self.deliver_batch()
        marie = self.state("marie")
        self.assertEqual((marie.state, marie.last_error), ("failed", BAD_NUMBER))
        self.assertEqual(Mailbox.objects.get(local_part="marie").status, "pending")
        self.assertEqual({self.state(n).state for n in ("pierre", "jean")}, {"done"})
        self.assertEqual(set(texted()), {PHONES["pierre"], PHONES["jean"]})

    def test_it_sends_nothing_for_a_job_whose_claim_was_lost_after_the_write(self):
        real = mailserver.users_set_passwords

        def write_then_lose_marie(users):
            written = real(users)
            take_claim_over(self.jobs["marie"])
            return written

        with mock.patch("provisioning.mailserver.users_set_passwords", write_then_lose_marie):
            self.deliver_batch()
        self.assertEqual(set(texted()), {PHONES["pierre"], PHONES["jean"]})
        self.assertEqual(self.state("marie").state, "running")  # the newer worker's

    def test_it_keeps_the_newer_hash_when_a_claim_was_lost_while_hashing(self):
        newer = passwords.hash_password("k7dmx-3qp9w-teh4n-c2rfa")
        mailserver.user_set_password(address=address("marie"), password_hash=newer)
        real = passwords.hash_password

        def hash_and_lose_marie(password, **kwargs):
            take_claim_over(self.jobs["marie"])
            return real(password, **kwargs)

        with mock.patch("provisioning.passwords.hash_password", hash_and_lose_marie):
            self.deliver_batch()
        self.assertEqual(mailserver.user_row(address("marie"))["password"], newer)
        self.assertEqual(set(texted()), {PHONES["pierre"], PHONES["jean"]})

    def test_it_texts_no_mailbox_disabled_or_deleted_in_a_batch(self):
        Mailbox.objects.filter(local_part="marie").update(status="disabled")
        real = passwords.hash_password

        def hash_while_jean_is_deleted(password, **kwargs):
            Mailbox.objects.filter(local_part="jean").update(status="deleted")
            return real(password, **kwargs)

        with mock.patch("provisioning.passwords.hash_password", hash_while_jean_is_deleted):
            self.deliver_batch()
        self.assertEqual(set(texted()), {PHONES["pierre"]})
        self.assertIn("désactivée", self.state("marie").last_error)
        self.assertIn("supprimée", self.state("jean").last_error)
        self.assertEqual({self.state(n).state for n in ("marie", "jean")}, {"failed"})
        self.assertIsNone(mailserver.user_row(address("jean")))  # refused before the write

    def test_it_texts_no_mailbox_deleted_while_its_hash_was_written(self):
        real = mailserver.users_set_passwords

        def write_then_delete_jean(users):
            written = real(users)
            Mailbox.objects.filter(local_part="jean").update(status="deleted")
            return written

        with mock.patch("provisioning.mailserver.users_set_passwords", write_then_delete_jean):
            self.deliver_batch()
        self.assertEqual(set(texted()), {PHONES["pierre"], PHONES["marie"]})
        self.assertEqual(self.state("jean").state, "failed")

    def test_it_never_puts_a_password_in_a_message_or_a_log_line(self):
        with published_tasks() as published, every_log_record() as lines:
            self.deliver_batch()
        found = sms_passwords()
        self.assertEqual(len(set(found)), 3)
        self.assertTrue(any("batch of 3 password jobs" in line for line in lines))
        for name, args, kwargs in task_calls(published):
            self.assertEqual((len(args), kwargs), (1, {}), name)
            self.assertIsInstance(args[0], int)
        for text in [repr(m) for m in published] + lines:
            for password in found:
                self.assertNotIn(password, text)


def statements(captured: CaptureQueriesContext) -> int:
    """SQL statements, without the savepoints of the test's own transaction."""
    return sum(1 for q in captured.captured_queries if "SAVEPOINT" not in q["sql"])


def forget_mail_rows() -> None:
    """The mail table is not the test runner's to flush: leave it as it was found."""
    for name in (*MEMBERS, "paul", "anne"):
        mailserver.user_delete(address=address(name))


def take_claim_over(job: ProvisioningJob) -> None:
    ProvisioningJob.objects.filter(pk=job.pk).update(claim_token=uuid.uuid4())


class HashCheckingSmsBackend(locmem.SmsBackend):
    """From its own thread and connection, looks for the committed hash of each SMS."""

    seen: list[bool] = []

    def send(self, *, to, body):
        try:
            [password] = [w for w in body.split() if w.count("-") == 3]
            name = next(name for name, phone in PHONES.items() if phone == to)
            row = mailserver.user_row(address(name))
            self.seen.append(row is not None and passwords.verify(password, row["password"]))
        finally:
            connections.close_all()  # this thread's own connections
        return super().send(to=to, body=body)


@override_settings(SMS_BACKEND=f"{HERE}.HashCheckingSmsBackend")
class BatchCommitTests(TransactionTestCase):
    databases = {"default", "mailserver"}

    def setUp(self):
        HashCheckingSmsBackend.seen = []
        the_domain()
        self.jobs = create_members(*MEMBERS)
        self.addCleanup(forget_mail_rows)

    def test_it_commits_each_hash_before_its_sms(self):
        tasks.deliver_password(self.jobs["pierre"].pk)
        self.assertEqual(HashCheckingSmsBackend.seen, [True, True, True])

    def test_two_workers_never_claim_the_same_job(self):
        more = create_members("paul", "anne")
        first, claimed = threading.Event(), {}

        def other_worker():
            try:
                with transaction.atomic():  # its claim's locks held until this commits
                    jobs = ProvisioningJob.objects.claim_batch(
                        self.jobs["pierre"].pk, PASSWORD_STEP, limit=3
                    )
                    claimed["other"] = {job.pk for job in jobs}
                    first.set()
                    time.sleep(1)
            finally:
                connections.close_all()

        thread = threading.Thread(target=other_worker)
        thread.start()
        first.wait(10)
        start = time.monotonic()
        jobs = ProvisioningJob.objects.claim_batch(more["paul"].pk, PASSWORD_STEP, limit=5)
        waited = time.monotonic() - start
        thread.join()
        mine = {job.pk for job in jobs}
        self.assertEqual(len(claimed["other"]), 3)
        self.assertEqual(claimed["other"] & mine, set())
        self.assertEqual(
            claimed["other"] | mine, set(ProvisioningJob.objects.values_list("pk", flat=True))
        )
        self.assertLess(waited, 0.5)  # SKIP LOCKED: it did not wait for the other's commit


class BatchEmailTests(BatchTestCase):
    def setUp(self):
        super().setUp()
        self.deliver_batch()  # three emails queued

    def send_batch(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            tasks.send_job_email(self.jobs["pierre"].pk)

    def test_it_sends_the_batch_over_one_connection(self):
        real = emails.get_connection
        with mock.patch("provisioning.emails.get_connection", side_effect=real) as connect:
            self.send_batch()
        self.assertEqual(connect.call_count, 1)
        self.assertEqual(sorted(m.to[0] for m in mail.outbox),
                         sorted(f"{name}@example.org" for name in MEMBERS))  # fmt: skip
        self.assertEqual({self.state(n).email_status for n in MEMBERS}, {"sent"})
        for message in mail.outbox:
            for password in sms_passwords():
                self.assertNotIn(password, message.body)

    def test_it_retries_or_fails_only_the_email_concerned(self):
        refused = smtplib.SMTPRecipientsRefused({"jean@example.org": (550, b"no such user")})

        def send(message, *args, **kwargs):
            if message.to == ["marie@example.org"]:
                raise OSError("timed out")
            if message.to == ["jean@example.org"]:
                raise refused
            return real_send(message, *args, **kwargs)

        real_send = EmailMultiAlternatives.send
        with (
            published_tasks() as published,
            mock.patch.object(EmailMultiAlternatives, "send", autospec=True, side_effect=send),
        ):
            self.send_batch()
        pierre, marie, jean = (self.state(n) for n in MEMBERS)
        self.assertEqual((pierre.email_status, marie.email_status, jean.email_status),
                         ("sent", "queued", "failed"))  # fmt: skip
        self.assertIn("ne répond pas", marie.last_error)
        self.assertIn("refuse l'adresse jean@example.org", jean.last_error)
        [retry] = [m for m in published if m["headers"].get("eta")]
        self.assertEqual((retry["task"], list(retry["body"][0])),
                         ("provisioning.send_job_email", [marie.pk]))  # fmt: skip
        retry_is_due(marie)
        self.assertEqual(send_email(marie).email_status, "sent")
