"""End to end against a real Dovecot and Postfix configured by `mailserver_config`.

The matrix: the main mail database (PostgreSQL in CI) and MariaDB, × the ISPmail and
PostfixAdmin tables, × each hash scheme Dovecot here supports. A mailbox is created through
the services, the worker's step runs, and the password is taken from the SMS outbox.
Aliases and quotas go through the commands (`createalias`, `setquota`), as an operator
types them; Postfix delivers to Dovecot over LMTP, with the quota plugin and its dict.
A deleted mailbox is refused at once, erased with the clock past retention, and its maildir
removed by the mail host's job that `mailserver_config` prints, run as a shell would.
"""

import imaplib
import io
import os
import smtplib
import subprocess
import tempfile
import uuid
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from unittest import mock

from django.core.management import call_command
from django.db import connections
from django.test import TransactionTestCase, override_settings
from django.utils import timezone

from accounts.models import Mailbox, Member
from audit.models import Action, AuditRecord
from provisioning import aliases, erasure, mailconfig, mailserver, services, tasks
from provisioning.sms import locmem

from .base import (
    DOMAIN,
    TEST_ACTOR,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
    sms_passwords,
    the_domain,
)
from .mailstack import (
    DOVECOT_FILES,
    MAP_NAMES,
    REQUIRED_BINARIES,
    MailStack,
    binary,
    insecure_tls,
    processes,
)
from .mailtables import mail_database
from .services import require_binary, require_root, unavailable

SCHEMES = ("SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID")
MYSQL_PARTS = {
    "/usr/lib/dovecot/modules/auth/libdriver_mysql.so": "dovecot-mysql",
    "/usr/lib/postfix/postfix-mysql.so": "postfix-mysql",
}
MB = 1024**2
BOUNCE_SUBJECT = "Undelivered Mail Returned to Sender"


def dovecot_schemes() -> set[str]:
    listed = subprocess.run(
        [binary("doveadm"), "pw", "-l"], capture_output=True, text=True, check=True
    )
    return set(listed.stdout.split())


class MailServerContract:
    engine = "main"
    schema = "ispmail"
    databases = {"default", "mailserver", "mailserver_mariadb"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for name, package in REQUIRED_BINARIES.items():
            require_binary(name, package)
        if cls.engine == "mariadb":
            for path, package in MYSQL_PARTS.items():
                if not Path(path).exists():
                    unavailable(f"{path} is missing (Debian package {package})")
        require_root("to run Postfix and Dovecot")
        cls.connection = cls.enterClassContext(mail_database(cls.engine, cls.schema))
        cls.stack = MailStack(**cls.configuration())
        cls.addClassCleanup(cls.stack.stop)
        cls.stack.start()

    @classmethod
    def configuration(cls) -> dict:
        """The files `manage.py mailserver_config` writes, as the stack's configuration."""
        folder = Path(cls.enterClassContext(tempfile.TemporaryDirectory()))
        # The mailboxes belong to the `dovecot` user here (tests/mailstack_config.py).
        call_command(
            "mailserver_config", output_dir=str(folder), mail_user="dovecot", stdout=io.StringIO()
        )
        maps = {name: (folder / f"{name}.cf").read_text() for name in MAP_NAMES}
        driver = "mysql" if connections[mailserver.ALIAS].vendor == "mysql" else "pgsql"
        return {
            "dovecot_sql_conf": (folder / "dovecot-sql.conf.ext").read_text(),
            "dovecot_files": {name: (folder / name).read_text() for name in DOVECOT_FILES},
            "postfix_maps": {"type": driver, **maps},
        }

    def setUp(self):
        super().setUp()
        locmem.outbox.clear()
        self.domain = the_domain()

    def create(self, scheme: str = "SHA512-CRYPT", local_part: str = ""):
        local_part = local_part or f"pierre.{uuid.uuid4().hex[:8]}"
        with override_settings(MAILSERVER_PASSWORD_SCHEME=scheme):
            job = deliver(
                create_pierre(local_part=local_part, personal_email=f"{local_part}@x.org")
            )
        self.assertEqual(job.state, "done", job.last_error)
        return job.mailbox, sms_passwords()[-1]

    def assert_logs_in(self, address: str, password: str) -> None:
        imap = self.stack.imap_login(address, password)
        try:
            self.assertEqual(imap.select("INBOX")[0], "OK")
        finally:
            imap.logout()
        self.stack.smtp_login(address, password).quit()

    def assert_refused(self, address: str, password: str) -> None:
        with self.assertRaises(imaplib.IMAP4.error):
            self.stack.imap_login(address, password)
        with self.assertRaises(smtplib.SMTPAuthenticationError):
            self.stack.smtp_login(address, password)

    def check_scheme(self, scheme: str) -> None:
        if scheme not in dovecot_schemes():
            self.skipTest(f"Dovecot here does not support {scheme}")
        mailbox, password = self.create(scheme)
        self.assertTrue(
            mailserver.user_row(mailbox.address)["password"].startswith(f"{{{scheme}}}")
        )
        self.assert_logs_in(mailbox.address, password)
        self.assert_refused(mailbox.address, password[:-1] + ("a" if password[-1] != "a" else "b"))
        self.assert_sends_to_itself(mailbox.address, password, scheme)

    def assert_sends_to_itself(self, address: str, password: str, scheme: str) -> None:
        message = EmailMessage()
        message["From"] = message["To"] = address
        message["Subject"] = f"Bienvenue ({self.engine}, {self.schema}, {scheme})"
        message.set_content("Envoyé par SMTPS avec le mot de passe reçu par SMS.")
        smtp = self.stack.smtp_login(address, password)
        try:
            smtp.send_message(message)
        finally:
            smtp.quit()
        self.assertTrue(
            self.stack.wait_for_message(address, password, message["Subject"]), self.stack.logs()
        )

    def test_it_works_with_sha512_crypt(self):
        self.check_scheme("SHA512-CRYPT")

    def test_it_works_with_blf_crypt(self):
        self.check_scheme("BLF-CRYPT")

    def test_it_works_with_argon2id(self):
        self.check_scheme("ARGON2ID")

    def test_it_refuses_the_old_password_after_a_reset(self):
        mailbox, old = self.create()
        deliver(services.mailbox_password_reset(mailbox=mailbox, actor=TEST_ACTOR).job)
        new = sms_passwords()[-1]
        self.assertNotEqual(old, new)
        self.assert_refused(mailbox.address, old)
        self.assert_logs_in(mailbox.address, new)

    def send(self, sender: str, password: str, to: str, subject: str, size: int = 0) -> None:
        """One message over SMTPS, logged in as `sender`; `size` bytes of text (about)."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, to, subject
        line = "Octopus-Soignies, message de test pour les quotas.\n"
        message.set_content(line * max(1, size // len(line)))
        smtp = self.stack.smtp_login(sender, password)
        try:
            smtp.send_message(message)
        finally:
            smtp.quit()

    def assert_arrives(self, address: str, password: str, subject: str) -> None:
        arrived = self.stack.wait_for_message(address, password, subject)
        self.assertTrue(arrived, f"{subject!r} not in {address}'s INBOX\n{self.stack.logs()}")

    def test_it_delivers_an_alias_to_each_member_until_it_is_disabled(self):
        # As in the README: createalias bureau@… pierre@… marie@…, then a mail to bureau@.
        pierre, pierre_password = self.create(local_part="pierre")
        marie, marie_password = self.create(local_part="marie")
        bureau = f"bureau@{DOMAIN}"
        call_command("createalias", bureau, pierre.address, marie.address, stdout=io.StringIO())
        subject = f"Reunion du bureau ({self.engine}, {self.schema})"
        self.send(pierre.address, pierre_password, bureau, subject)
        self.assert_arrives(pierre.address, pierre_password, subject)
        self.assert_arrives(marie.address, marie_password, subject)

        alias = aliases.alias_set_active(alias=bureau, active=False, actor=TEST_ACTOR).alias
        tasks.sync_alias(alias.pk)  # the worker's task, called by hand
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as refused:
            self.send(pierre.address, pierre_password, bureau, "Alias desactive")
        [(code, _text)] = refused.exception.recipients.values()
        self.assertEqual(code, 550)  # unknown now: the sender is told at once

    def test_it_refuses_a_message_over_the_quota_and_counts_the_usage(self):
        sender, sender_password = self.create()
        member, member_password = self.create()
        out = io.StringIO()
        call_command("setquota", member.address, "1M", stdout=out)
        self.assertIn("1 Mo", out.getvalue())
        self.send(sender.address, sender_password, member.address, "Trop gros", size=2 * MB)
        self.assert_arrives(sender.address, sender_password, BOUNCE_SUBJECT)
        self.send(sender.address, sender_password, member.address, "Petit message")
        self.assert_arrives(member.address, member_password, "Petit message")
        imap = self.stack.imap_login(member.address, member_password)
        try:
            imap.select("INBOX", readonly=True)
            _status, [found] = imap.search(None, "SUBJECT", '"Trop gros"')
        finally:
            imap.logout()
        self.assertEqual(found.split(), [])
        self.assert_usage_shown(member)

    def assert_usage_shown(self, member: Mailbox) -> None:
        """Dovecot's quota dict wrote the usage to quota2; the admin page shows it."""
        usage = mailserver.quota_usage([member.address]).get(member.address)
        self.assertIsNotNone(usage, self.stack.logs())
        self.assertEqual((usage["quota"], usage["messages"]), (MB, 1))
        self.assertTrue(0 < usage["bytes"] < 10_000, usage)
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])
        page = self.client.get(f"/admin/accounts/mailbox/{member.pk}/change/")
        self.assertContains(page, f"{usage['bytes']} octets sur 1 Mo")

    def test_it_refuses_a_deleted_mailbox_at_once_and_erases_it_after_retention(self):
        mailbox, password = self.create()
        other, other_password = self.create()
        for address, secret in ((mailbox.address, password), (other.address, other_password)):
            self.send(address, secret, address, f"Avant la suppression ({self.schema})")
            self.assert_arrives(address, secret, f"Avant la suppression ({self.schema})")
        homes = self.stack.workdir / "mail" / DOMAIN
        self.assertTrue((homes / mailbox.local_part / "Maildir").is_dir())

        call_command("deletemailbox", mailbox.address, stdout=io.StringIO())
        self.assert_refused(mailbox.address, password)  # at once, IMAP and SMTP
        self.assert_logs_in(other.address, other_password)

        past_retention = timezone.now() + timedelta(days=31)
        with mock.patch("django.utils.timezone.now", return_value=past_retention):
            report = erasure.mailboxes_erase_due(actor=TEST_ACTOR)
        self.assertEqual((report.erased, report.failed), ([mailbox.address], []))
        self.assertIsNone(mailserver.user_row(mailbox.address))
        member = Member.objects.get(pk=mailbox.member_id)
        self.assertEqual(
            (member.full_name, member.personal_email, str(member.phone)), ("membre effacé", "", "")
        )
        personal_email = f"{mailbox.local_part}@x.org"
        for row in AuditRecord.objects.values_list("target", "detail"):
            self.assertNotIn(personal_email, " ".join(row))
        deleted = AuditRecord.objects.get(action=Action.MAILBOX_DELETE)
        self.assertEqual((deleted.target, deleted.outcome), (mailbox.address, "success"))
        self.assertTrue(deleted.actor_label.startswith("système (commande deletemailbox"))

        self.run_maildir_job()
        self.assertFalse((homes / mailbox.local_part).exists())
        self.assertTrue((homes / other.local_part / "Maildir").is_dir())
        self.assert_arrives(other.address, other_password, f"Avant la suppression ({self.schema})")

    def run_maildir_job(self) -> None:
        """The cron line `mailserver_config` prints, run by a shell, with the stack's mail
        root and this app's manage.py reading the test database."""
        app = connections["default"].settings_dict
        if connections["default"].vendor != "postgresql":
            unavailable("the maildir job needs the app database on PostgreSQL, as in CI")
        password = f":{app['PASSWORD']}" if app.get("PASSWORD") else ""
        url = (
            f"postgresql://{app['USER']}{password}@{app.get('HOST') or '127.0.0.1'}:"
            f"{app.get('PORT') or 5432}/{app['NAME']}"
        )
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        mail_root = str(self.stack.workdir / "mail")
        call_command("mailserver_config", output_dir=str(folder), mail_root=mail_root,
                     stdout=io.StringIO())  # fmt: skip
        job = (folder / mailconfig.CRON_FILE).read_text()
        [line] = [line for line in job.splitlines() if line and not line.startswith("#")]
        command = line.split(" root ", 1)[1]
        self.assertTrue(command.startswith(f"cd {mail_root} && "), command)
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "octopus_mail.settings"}
        result = subprocess.run(
            ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120
        )
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_it_refuses_a_disabled_mailbox_until_it_is_enabled(self):
        mailbox, password = self.create()
        services.mailbox_disable(mailbox=mailbox, actor=TEST_ACTOR)
        self.assert_refused(mailbox.address, password)
        services.mailbox_enable(mailbox=mailbox, actor=TEST_ACTOR)
        self.assert_logs_in(mailbox.address, password)


class MainIspmailMailServerTests(MailServerContract, TransactionTestCase):
    def test_it_refuses_to_relay_for_a_client_that_did_not_log_in(self):
        mailbox, _password = self.create()
        smtp = smtplib.SMTP_SSL(self.stack.host, self.stack.smtp_port, context=insecure_tls())
        try:
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail(mailbox.address, [mailbox.address], "Subject: x\r\n\r\nno login\r\n")
        finally:
            smtp.quit()

    def test_it_leaves_no_process_behind(self):
        stack = MailStack(**self.configuration())
        stack.start()
        try:
            pids = stack.pids()
            self.assertGreaterEqual(len(pids), 8)  # each master, and children of both
        finally:
            stack.stop()
        alive = {pid for pid, state, _, _ in processes() if state != "Z"}
        self.assertEqual(alive & set(pids), set())
        self.assertFalse(stack.workdir.exists())


class MainPostfixadminMailServerTests(MailServerContract, TransactionTestCase):
    schema = "postfixadmin"


class MariadbIspmailMailServerTests(MailServerContract, TransactionTestCase):
    engine = "mariadb"


class MariadbPostfixadminMailServerTests(MailServerContract, TransactionTestCase):
    engine = "mariadb"
    schema = "postfixadmin"
