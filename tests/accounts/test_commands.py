"""Management commands: clear French errors, non-zero exit, nothing written on bad input."""

import io
import os
import sqlite3
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from celery.signals import before_task_publish
from django.core.management import CommandError, call_command
from django.test import SimpleTestCase
from django_otp.plugins.otp_static.models import StaticToken

from accounts.models import Mailbox, Member
from provisioning import mailserver, passwords
from provisioning.models import ProvisioningJob

from ..base import MEMBER, OctopusTestCase, create_pierre, deliver

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "pierre@octopus-soignies.be"


def member_args(**overrides) -> list[str]:
    values = {"--name": MEMBER["full_name"], "--phone": MEMBER["phone"],
              "--personal-email": MEMBER["personal_email"], **overrides}  # fmt: skip
    return [item for pair in values.items() for item in pair]


class CreateMailboxCommandTests(OctopusTestCase):
    def call(self, address, *args):
        out = io.StringIO()
        with self.captureOnCommitCallbacks(execute=True):
            call_command("createmailbox", address, *args, stdout=out)
        return out.getvalue()

    def assertNothingWritten(self):
        self.assertEqual(
            (Member.objects.count(), Mailbox.objects.count(), ProvisioningJob.objects.count()),
            (0, 0, 0),
        )
        self.assertIsNone(mailserver.user_row(ADDRESS))

    def test_it_queues_the_job_with_no_wait(self):
        output = self.call(ADDRESS, *member_args(), "--no-wait")
        self.assertIn("en file d'attente", output)
        self.assertEqual(ProvisioningJob.objects.get().state, "queued")

    def test_it_says_when_no_worker_finished_the_job_in_time(self):
        with self.assertRaisesMessage(CommandError, "Un worker Celery tourne-t-il") as caught:
            self.call(ADDRESS, *member_args(), "--timeout", "0.3")
        self.assertEqual(caught.exception.returncode, 2)

    def test_it_names_each_bad_argument_and_writes_nothing(self):
        with self.assertRaises(CommandError) as caught:
            self.call(
                "Pierre Émile@octopus-soignies.be",
                *member_args(**{"--phone": "02 512 34 56", "--personal-email": "x@"}),
            )
        message = str(caught.exception)
        self.assertIn("Rien n'a été créé", message)
        self.assertIn("adresse : « pierre émile »", message)
        self.assertIn("--phone : Ce numéro n'est pas un numéro de GSM", message)
        self.assertIn("--personal-email", message)
        self.assertNothingWritten()

    def test_it_refuses_an_unknown_domain(self):
        with self.assertRaisesMessage(CommandError, "n'est pas géré ici"):
            self.call("pierre@example.com", *member_args())
        self.assertNothingWritten()

    def test_it_refuses_an_address_without_a_domain(self):
        with self.assertRaisesMessage(CommandError, "n'est pas une adresse complète"):
            self.call("pierre", *member_args())
        self.assertNothingWritten()

    def test_it_refuses_a_taken_address(self):
        deliver(create_pierre())
        with self.assertRaisesMessage(CommandError, "existe déjà"):
            self.call("PIERRE@octopus-soignies.be", *member_args())
        self.assertEqual(Mailbox.objects.count(), 1)


class MailboxCommandsTests(OctopusTestCase):
    def call(self, name, *args):
        out = io.StringIO()
        with self.captureOnCommitCallbacks(execute=True):
            call_command(name, *args, stdout=out)
        return out.getvalue()

    def test_it_refuses_to_reset_an_unknown_address(self):
        with self.assertRaisesMessage(CommandError, "n'existe pas"):
            self.call("resetpassword", "personne@octopus-soignies.be")
        self.assertEqual(ProvisioningJob.objects.count(), 0)

    def test_it_refuses_to_reset_a_disabled_address(self):
        deliver(create_pierre())
        self.call("disablemailbox", ADDRESS)
        with self.assertRaisesMessage(CommandError, "désactivée"):
            self.call("resetpassword", ADDRESS)
        self.assertEqual(ProvisioningJob.objects.count(), 1)

    def test_it_queues_a_reset(self):
        deliver(create_pierre())
        self.call("resetpassword", ADDRESS, "--no-wait")
        self.assertEqual(ProvisioningJob.objects.filter(kind="reset", state="queued").count(), 1)

    def test_it_disables_and_enables(self):
        deliver(create_pierre())
        self.assertIn("désactivée", self.call("disablemailbox", ADDRESS))
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        with self.assertRaisesMessage(CommandError, "déjà désactivée"):
            self.call("disablemailbox", ADDRESS)
        self.assertIn("réactivée", self.call("enablemailbox", ADDRESS))
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])

    def test_it_creates_an_administrator_with_backup_codes(self):
        output = self.call("createadmin", "claire", "--tokens", "3")
        self.assertIn("Mot de passe :", output)
        self.assertEqual(StaticToken.objects.filter(device__user__username="claire").count(), 3)
        again = self.call("createadmin", "claire", "--tokens", "2")
        self.assertNotIn("Mot de passe :", again)
        self.assertEqual(StaticToken.objects.filter(device__user__username="claire").count(), 5)


class DevelopmentSetupTests(SimpleTestCase):
    """The issue's acceptance run: SQLite files, file-based SMS, no broker, real commands."""

    def manage(self, env, *args):
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def sms_passwords(self, folder: Path) -> list[str]:
        files = sorted(folder.glob("*.sms"), key=lambda f: f.stat().st_mtime_ns)
        return [f.read_text().split(" : ")[2].split()[0] for f in files]

    def test_it_creates_and_resets_with_sqlite_files_and_file_sms(self):
        tmp = Path(self.enterContext(tempfile.TemporaryDirectory()))
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "octopus_mail.settings",
            "DJANGO_DEBUG": "true",  # development backends are refused otherwise
            "DATABASE_URL": f"sqlite:///{tmp}/app.sqlite3",
            "MAILSERVER_DATABASE_URL": f"sqlite:///{tmp}/mail.sqlite3",
            "SMS_BACKEND": "provisioning.sms.filebased.SmsBackend",
            "SMS_FILE_PATH": str(tmp / "sms"),
            "CELERY_BROKER_URL": "",
        }
        for args in (["migrate"], ["migrate", "--database", "mailserver"]):
            done = self.manage(env, *args)
            self.assertEqual(done.returncode, 0, done.stderr)
        created = self.manage(env, "createmailbox", ADDRESS, *member_args())
        self.assertEqual(created.returncode, 0, created.stderr)
        self.assertIn("envoyé par SMS au +32 4•• •• •• 56", created.stdout)
        reset = self.manage(env, "resetpassword", ADDRESS)
        self.assertEqual(reset.returncode, 0, reset.stderr)

        first, second = self.sms_passwords(tmp / "sms")
        with sqlite3.connect(tmp / "mail.sqlite3") as db:
            [(stored,)] = db.execute("SELECT password FROM virtual_users").fetchall()
        self.assertTrue(stored.startswith("{SHA512-CRYPT}$6$"))
        self.assertTrue(passwords.verify(second, stored))
        self.assertFalse(passwords.verify(first, stored))
        for database in ("app.sqlite3", "mail.sqlite3"):
            content = (tmp / database).read_bytes()
            for password in (first, second):
                self.assertNotIn(password.encode(), content)


class SweepCommandTests(OctopusTestCase):
    def test_it_rings_again_for_a_lost_job(self):
        job = create_pierre()
        long_ago = job.created_at - timedelta(hours=1)
        ProvisioningJob.objects.filter(pk=job.pk).update(updated_at=long_ago)
        published = []

        def record(sender=None, body=None, **kwargs):
            published.append((sender, list(body[0])))

        before_task_publish.connect(record)
        self.addCleanup(before_task_publish.disconnect, record)
        out = io.StringIO()
        with self.captureOnCommitCallbacks(execute=True):
            call_command("sweepjobs", stdout=out)
        self.assertIn("1 mot(s) de passe", out.getvalue())
        self.assertEqual(published, [("provisioning.deliver_password", [job.pk])])
