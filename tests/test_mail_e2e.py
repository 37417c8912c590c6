"""End to end against a real Dovecot and Postfix configured by `mailserver_config`.

The matrix: the main mail database (PostgreSQL in CI) and MariaDB, × the ISPmail and
PostfixAdmin tables, × each hash scheme Dovecot here supports. A mailbox is created through
the services, the worker's step runs, and the password is taken from the SMS outbox.
"""

import imaplib
import io
import smtplib
import subprocess
import tempfile
import uuid
from email.message import EmailMessage
from pathlib import Path

from django.core.management import call_command
from django.db import connections
from django.test import TransactionTestCase, override_settings

from provisioning import mailserver, services
from provisioning.sms import locmem

from .base import TEST_ACTOR, create_pierre, deliver, sms_passwords, the_domain
from .mailstack import MAP_NAMES, REQUIRED_BINARIES, MailStack, binary, insecure_tls, processes
from .mailtables import mail_database
from .services import require_binary, require_root, unavailable

SCHEMES = ("SHA512-CRYPT", "BLF-CRYPT", "ARGON2ID")
MYSQL_PARTS = {
    "/usr/lib/dovecot/modules/auth/libdriver_mysql.so": "dovecot-mysql",
    "/usr/lib/postfix/postfix-mysql.so": "postfix-mysql",
}


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
        call_command("mailserver_config", output_dir=str(folder), stdout=io.StringIO())
        maps = {name: (folder / f"{name}.cf").read_text() for name in MAP_NAMES}
        driver = "mysql" if connections[mailserver.ALIAS].vendor == "mysql" else "pgsql"
        return {
            "dovecot_sql_conf": (folder / "dovecot-sql.conf.ext").read_text(),
            "postfix_maps": {"type": driver, **maps},
        }

    def setUp(self):
        super().setUp()
        locmem.outbox.clear()
        self.domain = the_domain()

    def create(self, scheme: str = "SHA512-CRYPT"):
        local_part = f"pierre.{uuid.uuid4().hex[:8]}"
        with override_settings(MAILSERVER_PASSWORD_SCHEME=scheme):
            job = deliver(create_pierre(local_part=local_part))
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
