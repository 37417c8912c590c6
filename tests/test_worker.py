"""The one end-to-end test: a real Redis broker and a real Celery worker thread.

Every other test runs tasks by hand on the in-memory broker. Here the admin's commit rings
Redis, a worker started by `celery.contrib.testing.worker.start_worker` (a thread of this
process, so the locmem SMS and email outboxes are shared) runs the job, and the test checks
that no password ever crossed the broker (invariant 1).
"""

import base64
import math
import threading
import time
import uuid
from contextlib import contextmanager
from unittest import mock

import redis
from celery.signals import before_task_publish
from django.conf import settings
from django.core import mail
from django.db import connections, transaction
from django.test import TransactionTestCase

from octopus_mail.celery import app as celery_app
from provisioning import batches, mailschemas, mailserver, passwords, services
from provisioning.models import ProvisioningJob
from provisioning.sms import locmem

from .base import DOMAIN, MEMBER, TEST_ACTOR, create_pierre, sms_passwords
from .celeryworker import broker, broker_driver, worker_thread
from .services import IN_CI, RABBITMQ_URL, REDIS_URL, require_rabbitmq, require_redis

ADDRESS = "pierre@octopus-soignies.be"
DEADLINE = 30  # seconds; a job takes milliseconds, the margin is for a loaded CI machine
DELIVER, EMAIL = "provisioning.deliver_password", "provisioning.send_job_email"


# --- Broker and Redis helpers ---------------------------------------------------------------


def other_clients(client: redis.Redis) -> list[str]:
    """Addresses of other connections on this Redis database, e.g. another run of this test."""
    db = client.connection_pool.connection_kwargs["db"]
    return [
        entry["addr"]
        for entry in client.client_list()
        if int(entry["db"]) == db and entry["cmd"] != "client|list"  # that one is us
    ]


def traces_of(secret: str) -> list[bytes]:
    """`secret` in clear, and as it reads inside base64 text at each of the 3 alignments.

    Kombu's Redis transport stores message bodies in base64: a plain search misses them.
    """
    data = secret.encode()
    traces = [data]
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data)
        # Keep the characters made of the secret's bits only.
        traces.append(encoded[math.ceil(offset * 8 / 6) : (offset + len(data)) * 8 // 6])
    return traces


def holds(texts, secret: str) -> bool:
    return any(trace in text for text in texts for trace in traces_of(secret))


def redis_values(client: redis.Redis) -> dict[bytes, list[bytes]]:
    """Every key of the database with everything it holds, whatever its type."""
    readers = {
        b"string": lambda key: [client.get(key)],
        b"list": lambda key: client.lrange(key, 0, -1),
        b"hash": lambda key: [item for pair in client.hgetall(key).items() for item in pair],
        b"set": lambda key: list(client.smembers(key)),
        b"zset": lambda key: client.zrange(key, 0, -1),
    }
    values = {}
    for key in client.scan_iter():
        kind = client.type(key)
        assert kind in readers, f"no reader for Redis key {key!r} of type {kind!r}"
        values[key] = [key, *readers[kind](key)]
    return values


class RedisTraffic:
    """Every command Redis receives for one database, recorded with MONITOR in a thread.

    Keys only show what is left after the run; this shows everything that went through.
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.db = self.client.connection_pool.connection_kwargs["db"]
        self.commands: list[bytes] = []
        self._sentinel = f"end-of-recording-{uuid.uuid4()}"
        self._monitor = self.client.monitor()
        self._thread = threading.Thread(target=self._record, name="redis-monitor", daemon=True)

    def start(self) -> None:
        self._monitor.__enter__()  # MONITOR is on once this returns: nothing is missed
        self._thread.start()

    def stop(self) -> list[bytes]:
        """Stop once Redis has shown every command sent before this call."""
        if self._thread.is_alive():
            self.client.echo(self._sentinel)  # a blocking read stops on a command, not a flag
            self._thread.join(10)
            assert not self._thread.is_alive(), "the Redis MONITOR thread did not stop"
        self._monitor.__exit__()
        self.client.close()
        return self.commands

    def _record(self) -> None:
        while True:
            entry = self._monitor.next_command()
            if self._sentinel in entry["command"]:
                return
            if entry["db"] == self.db:
                self.commands.append(entry["command"].encode())


# --- The test -------------------------------------------------------------------------------


class WorkerTestMixin:
    """What the end-to-end tests share, whichever broker carries the messages."""

    # Not TestCase: the worker thread has its own connections and sees committed rows only.
    databases = {"default", "mailserver"}

    @contextmanager
    def running_worker(self):
        """The worker, on the Redis broker; once stopped, nothing of it is left running."""
        threads_before = set(threading.enumerate())
        with worker_thread():
            yield
        self.assertEqual(set(threading.enumerate()) - threads_before, set())

    def wait_until_done(self, job: ProvisioningJob) -> ProvisioningJob:
        """Poll the app database until the worker has sent the SMS and the email."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if "failed" in (job.state, job.email_status):
                self.fail(f"job {job.pk} failed: {job.last_error}")
            if (job.state, job.email_status) == ("done", "sent"):
                return job
            time.sleep(0.05)
        self.fail(f"job {job.pk} still {job.state}/{job.email_status} after {DEADLINE} s")

    def record_message(self, sender=None, body=None, headers=None, **kwargs) -> None:
        args, task_kwargs, embed = body  # task message protocol 2
        self.published.append(
            {
                "task": sender,
                "id": headers["id"],
                "args": list(args),
                "kwargs": task_kwargs,
                "embed": embed,
                "headers": headers,
                "properties": kwargs.get("properties"),
            }
        )

    @staticmethod
    def mailbox():
        # Fresh from the database: the worker moved it from pending to active.
        return services.mailbox_get(address=ADDRESS)

    @staticmethod
    def stored_hash() -> str:
        return mailserver.user_row(ADDRESS)["password"]

    @staticmethod
    def email_text(message) -> str:
        return message.subject + message.body + "".join(str(a[0]) for a in message.alternatives)

    def require_databases_shared_across_threads(self) -> None:
        in_memory = [
            alias
            for alias in sorted(self.databases)
            if connections[alias].vendor == "sqlite" and connections[alias].is_in_memory_db()
        ]
        if not in_memory:
            return
        reason = (
            f"in-memory SQLite test databases ({', '.join(in_memory)}) lock whole tables across "
            "connections: the worker thread's writes and this test's polling fail with "
            '"database table is locked". Run on PostgreSQL, or give SQLite a file TEST NAME'
        )
        if IN_CI:
            self.fail(reason)
        self.skipTest(f"*** SKIPPED: {reason} ***")

    def empty_mail_row(self) -> None:
        """TransactionTestCase's flush skips the mail table: the test's row goes by hand."""
        schema = mailschemas.current()
        connection = connections[mailserver.ALIAS]
        mailserver.create_tables(connection)  # as migrated; tests before may have dropped them
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {schema.users_table} WHERE {schema.address_column} = %s", [ADDRESS]
            )

    def assert_back_on_memory_broker(self) -> None:
        self.assertEqual(broker_driver(), "memory")


class WorkerEndToEndTests(WorkerTestMixin, TransactionTestCase):
    """Redis as the broker (the default)."""

    def setUp(self) -> None:
        super().setUp()
        self.require_databases_shared_across_threads()
        require_redis()
        self.assertEqual(settings.EMAIL_BACKEND, "django.core.mail.backends.locmem.EmailBackend")
        self.assertEqual(settings.SMS_BACKEND, "provisioning.sms.locmem.SmsBackend")
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.addCleanup(self.redis.close)
        self.wait_until_alone_on_redis()
        self.empty_test_stores()
        self.addCleanup(self.empty_test_stores)
        self.addCleanup(self.assert_back_on_memory_broker)
        self.enterContext(broker(REDIS_URL))
        self.assertEqual(broker_driver(), "redis")
        self.published: list[dict] = []
        before_task_publish.connect(self.record_message, weak=False)
        self.addCleanup(before_task_publish.disconnect, self.record_message)
        self.traffic = RedisTraffic(REDIS_URL)
        self.traffic.start()
        self.addCleanup(self.traffic.stop)

    def test_it_delivers_then_resets_a_password_that_verifies(self):
        with self.running_worker():
            self.wait_until_done(create_pierre())
            [first] = sms_passwords()
            self.assertTrue(passwords.verify(first, self.stored_hash()))
            self.assertEqual(len(mail.outbox), 1)
            self.assertEqual(mail.outbox[0].to, [MEMBER["personal_email"]])

            outcome = services.mailbox_password_reset(mailbox=self.mailbox(), actor=TEST_ACTOR)
            self.assertFalse(outcome.merged)
            self.assertEqual(outcome.job.kind, ProvisioningJob.Kind.RESET)
            self.wait_until_done(outcome.job)

        first_again, second = sms_passwords()
        self.assertEqual(first_again, first)
        self.assertTrue(passwords.verify(second, self.stored_hash()))
        self.assertFalse(passwords.verify(first, self.stored_hash()))
        self.assertEqual([sms["to"] for sms in locmem.outbox], [MEMBER["phone"]] * 2)
        self.assertEqual(len(mail.outbox), 2)
        for message in mail.outbox:
            self.assertFalse(holds([self.email_text(message).encode()], first))
            self.assertFalse(holds([self.email_text(message).encode()], second))

    def test_it_never_puts_the_password_in_the_broker(self):
        with self.running_worker():
            created = self.wait_until_done(create_pierre())
            reset = services.mailbox_password_reset(mailbox=self.mailbox(), actor=TEST_ACTOR).job
            self.wait_until_done(reset)
        secrets = sms_passwords()
        self.assertEqual(len(secrets), 2)

        # The messages carried the job id and nothing else.
        self.assertEqual(
            [(message["task"], message["args"], message["kwargs"]) for message in self.published],
            [
                (DELIVER, [created.pk], {}),
                (EMAIL, [created.pk], {}),
                (DELIVER, [reset.pk], {}),
                (EMAIL, [reset.pk], {}),
            ],
        )
        for secret in secrets:
            self.assertFalse(holds([repr(message).encode() for message in self.published], secret))

        # Each message really went through Redis: its task id was pushed onto a queue there.
        traffic = self.traffic.stop()
        pushes = [command for command in traffic if command.startswith(b"LPUSH ")]
        for message in self.published:
            self.assertTrue(any(message["id"].encode() in push for push in pushes), message)
        # The search sees inside the base64 bodies: it finds the job id in the first message.
        self.assertTrue(holds(pushes, f"[[{created.pk}], {{}}, "))

        # Neither on its way through Redis, nor in what stays there; and no results kept.
        stored = redis_values(self.redis)
        self.assertIn(b"_kombu.binding.celery", stored)
        everything_stored = [value for values in stored.values() for value in values]
        for secret in secrets:
            self.assertFalse(holds(traffic, secret))
            self.assertFalse(holds(everything_stored, secret))
        self.assertEqual([key for key in stored if key.startswith(b"celery-task-meta-")], [])

    def test_it_delivers_a_batch_whose_hashes_verify_and_never_reach_the_broker(self):
        names = ("pierre", "marie", "jean", "anne")
        self.addCleanup(lambda: [mailserver.user_delete(address=f"{n}@{DOMAIN}") for n in names])
        spy = mock.patch.object(batches, "deliver_passwords", wraps=batches.deliver_passwords)
        with self.running_worker(), spy as batch_path:
            with transaction.atomic():  # every job committed before the first doorbell rings
                jobs = [
                    create_pierre(local_part=name, personal_email=f"{name}@example.org",
                                  phone=f"+3247012345{i}")
                    for i, name in enumerate(names)
                ]  # fmt: skip
            for job in jobs:
                self.wait_until_done(job)
        [call] = batch_path.call_args_list
        self.assertEqual(sorted(job.pk for job in call.args[0]), sorted(job.pk for job in jobs))
        texts = {
            sms["to"]: password
            for sms, password in zip(locmem.outbox, sms_passwords(), strict=True)
        }
        for i, name in enumerate(names):
            row = mailserver.user_row(f"{name}@{DOMAIN}")
            self.assertTrue(passwords.verify(texts[f"+3247012345{i}"], row["password"]), name)
        traffic = self.traffic.stop()
        for secret in texts.values():
            self.assertFalse(holds(traffic, secret))
            self.assertFalse(holds([repr(message).encode() for message in self.published], secret))

    def wait_until_alone_on_redis(self) -> None:
        """Two runs on one database would flush and consume each other's messages."""
        deadline = time.monotonic() + DEADLINE
        while (others := other_clients(self.redis)) and time.monotonic() < deadline:
            time.sleep(0.5)
        self.assertEqual(
            others, [], f"{REDIS_URL} stays in use by others; set TEST_REDIS_URL to a free database"
        )

    def empty_test_stores(self) -> None:
        """The Redis test database, and the mail row: TransactionTestCase's flush skips both."""
        self.redis.flushdb()
        self.empty_mail_row()


class RabbitMQWorkerEndToEndTests(WorkerTestMixin, TransactionTestCase):
    """RabbitMQ as the broker (`CELERY_BROKER_URL=amqp://…`): the same job, the same rules."""

    def setUp(self) -> None:
        super().setUp()
        self.require_databases_shared_across_threads()
        require_rabbitmq()
        self.empty_mail_row()
        self.addCleanup(self.empty_mail_row)
        self.addCleanup(self.assert_back_on_memory_broker)
        self.enterContext(broker(RABBITMQ_URL))
        self.assertEqual(broker_driver(), "amqp")
        celery_app.control.purge()  # messages a killed run may have left in the queue
        self.published: list[dict] = []
        before_task_publish.connect(self.record_message, weak=False)
        self.addCleanup(before_task_publish.disconnect, self.record_message)

    def test_it_delivers_then_resets_a_password_through_rabbitmq(self):
        with self.running_worker():
            created = self.wait_until_done(create_pierre())
            reset = services.mailbox_password_reset(mailbox=self.mailbox(), actor=TEST_ACTOR).job
            self.wait_until_done(reset)
        first, second = sms_passwords()
        self.assertTrue(passwords.verify(second, self.stored_hash()))
        self.assertFalse(passwords.verify(first, self.stored_hash()))
        self.assertEqual(len(mail.outbox), 2)
        # The messages carried the job id and nothing else: no password on the broker.
        self.assertEqual(
            [(message["task"], message["args"], message["kwargs"]) for message in self.published],
            [(DELIVER, [created.pk], {}), (EMAIL, [created.pk], {}),
             (DELIVER, [reset.pk], {}), (EMAIL, [reset.pk], {})],
        )  # fmt: skip
        for secret in (first, second):
            self.assertFalse(holds([repr(message).encode() for message in self.published], secret))
        self.assertEqual(celery_app.control.purge(), 0)  # nothing left waiting in the queue
