"""Fault drills on RabbitMQ with a real `celery worker` process and a real broker.

A worker SIGKILLed while it holds a claimed job, and a broker restarted while jobs wait in
its queue: nothing is lost, the last SMS of every member holds the password whose hash is
stored (invariant 2), and no member gets two valid passwords (invariants 3 and 4). The
sweep runs from the test, as beat would run it, with its delays shortened.
"""

import shutil
import tempfile
import time
from pathlib import Path

from django.db import connections
from django.test import TransactionTestCase, override_settings

from octopus_mail.celery import app as celery_app
from provisioning import mailschemas, mailserver, passwords, services, steps
from provisioning.models import ProvisioningJob

from .base import MEMBER, PASSWORD_IN_SMS, TEST_ACTOR, create_pierre, the_domain
from .celeryworker import broker
from .fakes.twilio_api import FakeTwilio
from .rabbitnode import PrivateRabbitMQ, answers, queue_depth
from .services import RABBITMQ_URL, require_binary, require_rabbitmq, require_root
from .test_worker import ADDRESS, WorkerTestMixin
from .workerprocess import WorkerProcess, worker_env

DEADLINE = 60  # seconds for a drill's jobs to settle; they take a few on an idle machine
SMS_HELD = 2.0  # seconds the Twilio double holds the SMS request the drill strikes during
# The sweep as beat runs it, with its delays shortened so that a drill takes seconds: a
# claim older than 3 s is taken back; a job queued 10 s past due is rung again.
SWEEP = {"PROVISIONING_CLAIM_TIMEOUT": 3, "PROVISIONING_QUEUED_GRACE": 10}


class RabbitMQFaultDrillTests(WorkerTestMixin, TransactionTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.require_databases_shared_across_threads()
        require_rabbitmq()
        self.folder = Path(tempfile.mkdtemp(prefix="rabbitmq-drill-test-"))
        self.addCleanup(shutil.rmtree, self.folder, ignore_errors=True)
        self.twilio = self.enterContext(FakeTwilio())
        self.empty_mail_row()
        self.addCleanup(self.empty_mail_row)
        self.addCleanup(self.assert_back_on_memory_broker)
        self.sweeps: list[dict] = []

    def start_worker(self, broker_url: str, **settings) -> WorkerProcess:
        env = worker_env(broker_url=broker_url, twilio=self.twilio, folder=self.folder, **settings)
        worker = WorkerProcess(env, self.folder)
        self.addCleanup(worker.stop)
        worker.start()
        return worker

    def test_it_completes_a_job_whose_worker_was_killed_holding_its_claim(self):
        self.enterContext(broker(RABBITMQ_URL))
        celery_app.control.purge()  # messages a killed run may have left in the queue
        self.twilio.stall_next(SMS_HELD)
        worker = self.start_worker(RABBITMQ_URL)
        job = create_pierre()
        self.wait_for(lambda: len(self.twilio.requests) == 1, "the first SMS request")
        job.refresh_from_db()
        self.assertEqual(job.state, "running")  # claimed, its hash written, its SMS on the way
        first_hash = self.stored_hash()

        worker.kill()
        worker.start()
        # The request already made was accepted after all, as Twilio would: a first SMS.
        self.wait_for(lambda: len(self.twilio.messages) == 1, "the held SMS accepted")
        self.wait_until_settled([job.pk])

        first, last = self.sms_passwords_for(ADDRESS)
        self.assertTrue(passwords.verify(first, first_hash))  # hash before SMS, even killed
        self.assertTrue(passwords.verify(last, self.stored_hash()))
        self.assertFalse(passwords.verify(first, self.stored_hash()))
        job.refresh_from_db()
        self.assertEqual((job.attempts, job.email_status), (2, "sent"))
        self.assertEqual([sweep["password"] for sweep in self.sweeps if sweep["password"]], [1])
        self.assertEqual(len(self.emails_sent()), 1)
        self.assertEqual(celery_app.control.purge(), 0)  # the redelivered doorbell was consumed

    def test_it_loses_nothing_when_rabbitmq_restarts_mid_run(self):
        require_binary("rabbitmq-server", "rabbitmq-server")
        require_root("to start a RabbitMQ node of its own (Debian runs it as user rabbitmq)")
        node = self.enterContext(PrivateRabbitMQ())
        self.enterContext(broker(node.url))
        self.twilio.stall_next(SMS_HELD)
        # One job a doorbell: a batch would take the five at once and leave no message
        # waiting in the queue across the restart, which is what this drill is about.
        self.start_worker(node.url, PROVISIONING_BATCH_SIZE=1)
        addresses = [f"membre{i}@octopus-soignies.be" for i in range(6)]
        self.addCleanup(self.delete_mail_rows, addresses)
        jobs = [self.create(address, i) for i, address in enumerate(addresses[:5])]
        self.wait_for(lambda: len(self.twilio.requests) == 1, "the first SMS request")
        # One job in the worker's hands (prefetch 1, one process), four waiting in the queue.
        self.wait_for(lambda: queue_depth(node.url) == 4, "four messages waiting")

        node.stop_app()
        self.assertFalse(answers(node.port))
        # The admin creates one more meanwhile: recorded, no error page; its ring is lost.
        with self.assertLogs("provisioning.tasks", "WARNING") as logs:
            jobs.append(self.create(addresses[5], 5))
        self.assertIn("waits for the sweep", logs.output[0])
        node.start_app()
        # No sweep yet: the four waiting doorbells survived the restart (a durable queue,
        # persistent messages) and the worker, reconnected, ran them.
        self.wait_for(lambda: self.done(jobs[:5]), "the five jobs rung before the restart")
        self.wait_until_settled(jobs)

        self.assertEqual(queue_depth(node.url), 0)
        for address in addresses:
            [sent] = self.sms_passwords_for(address)  # one SMS each: nothing sent twice
            self.assertTrue(passwords.verify(sent, self.stored_hash(address)))
        self.assertEqual(len(self.emails_sent()), len(addresses))
        # The sweep rang the job created during the outage, and perhaps the first job's
        # email, whose doorbell the worker may have rung while the broker was away.
        self.assertEqual(sum(sweep["password"] for sweep in self.sweeps), 1)
        self.assertLessEqual(sum(sweep["email"] for sweep in self.sweeps), 1)
        attempts = ProvisioningJob.objects.filter(pk__in=jobs).values_list("attempts", flat=True)
        self.assertEqual(list(attempts), [1] * 6)

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def create(address: str, i: int) -> int:
        member = {
            **MEMBER,
            "local_part": address.split("@")[0],
            "phone": f"+3247000000{i}",
            "personal_email": f"membre{i}@example.org",
        }
        outcome = services.mailbox_create(domain=the_domain(), actor=TEST_ACTOR, **member)
        return outcome.job.pk

    def wait_for(self, predicate, what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not predicate():
            if time.monotonic() > deadline:
                self.fail(f"still waiting for {what} after {DEADLINE} s")
            time.sleep(0.05)

    @staticmethod
    def done(pks: list[int]) -> bool:
        states = ProvisioningJob.objects.filter(pk__in=pks).values_list("state", flat=True)
        return set(states) == {"done"}

    def wait_until_settled(self, pks: list[int]) -> None:
        """Until every job has sent its SMS and its email, sweeping every second."""
        deadline, next_sweep = time.monotonic() + DEADLINE, 0.0
        while time.monotonic() < deadline:
            jobs = ProvisioningJob.objects.filter(pk__in=pks)
            states = set(jobs.values_list("state", "email_status"))
            self.assertNotIn("failed", {state for pair in states for state in pair})
            if states == {("done", "sent")}:
                return
            if time.monotonic() >= next_sweep:
                with override_settings(**SWEEP):
                    self.sweeps.append(steps.jobs_sweep())
                next_sweep = time.monotonic() + 1
            time.sleep(0.1)
        self.fail(f"jobs not settled after {DEADLINE} s: {sorted(states)}")

    def sms_passwords_for(self, address: str) -> list[str]:
        """The passwords of the SMS Twilio accepted for `address`, in the order accepted."""
        accepted = sorted(self.twilio.messages, key=self.twilio.accepted_at.get)
        bodies = [self.twilio.messages[sid]["body"] for sid in accepted]
        return [PASSWORD_IN_SMS.search(body).group(1) for body in bodies if address in body]

    @staticmethod
    def stored_hash(address: str = ADDRESS) -> str:
        return mailserver.user_row(address)["password"]

    @staticmethod
    def delete_mail_rows(addresses: list[str]) -> None:
        """TransactionTestCase's flush skips the mail table."""
        schema = mailschemas.current()
        with connections[mailserver.ALIAS].cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {schema.users_table} WHERE {schema.address_column} = ANY(%s)",
                [addresses],
            )

    def emails_sent(self) -> list[Path]:
        return sorted((self.folder / "outbox").glob("*.log"))
