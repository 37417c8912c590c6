"""The same contract for every mail table layout on every engine: ISPmail and PostfixAdmin,
on the main mail database (PostgreSQL in CI) and on MariaDB."""

from django.core.checks import run_checks
from django.test import TransactionTestCase

from provisioning import mailserver, passwords
from provisioning.exceptions import PermanentError, TransientError

from ..base import create_pierre, deliver, sms_passwords, the_domain
from ..fakes import postfixadmin
from ..mailtables import mail_database

ADDRESS = "pierre@octopus-soignies.be"


class MailTableContract:
    engine = "main"
    schema = "ispmail"
    databases = {"default", "mailserver", "mailserver_mariadb"}

    def setUp(self):
        super().setUp()
        self.connection = self.enterContext(mail_database(self.engine, self.schema))
        the_domain()

    def fetch(self, sql, params=()):
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]

    def test_it_inserts_then_replaces_the_hash(self):
        first = passwords.hash_password("k7dmx-3qp9w-teh4n-c2rfa")
        second = passwords.hash_password("q2wer-t3yup-asd4f-ghj5k")
        mailserver.user_set_password(address=ADDRESS, password_hash=first, name="Pierre Dupont")
        mailserver.user_set_password(address=ADDRESS, password_hash=second, name="Pierre Dupont")
        row = mailserver.user_row(ADDRESS)
        self.assertEqual((row["password"], row["active"]), (second, True))
        self.assertTrue(passwords.verify("q2wer-t3yup-asd4f-ghj5k", row["password"]))
        self.assertEqual(mailserver.domain_users("octopus-soignies.be"), {ADDRESS: True})

    def test_it_disables_and_enables(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$x$y")
        mailserver.user_set_active(address=ADDRESS, active=False)
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        mailserver.user_set_active(address=ADDRESS, active=True)
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])

    def test_it_never_enables_a_disabled_row_when_it_replaces_the_hash(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$x$y")
        mailserver.user_set_active(address=ADDRESS, active=False)
        mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$x$z")
        row = mailserver.user_row(ADDRESS)
        self.assertEqual((row["password"], row["active"]), ("{SHA512-CRYPT}$6$x$z", False))

    def test_it_refuses_to_enable_an_address_it_does_not_hold(self):
        with self.assertRaisesMessage(PermanentError, "absente de la table"):
            mailserver.user_set_active(address=ADDRESS, active=True)

    def read_only(self, on: bool) -> None:
        mode = "READ ONLY" if on else "READ WRITE"
        statement = {
            "postgresql": f"SET SESSION CHARACTERISTICS AS TRANSACTION {mode}",
            "mysql": f"SET SESSION TRANSACTION {mode}",
        }.get(self.connection.vendor)
        if statement is None:
            self.skipTest(f"{self.connection.vendor} has no read-only session")
        with self.connection.cursor() as cursor:
            cursor.execute(statement)

    def test_it_waits_for_a_read_only_database_and_writes_nothing_meanwhile(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$old$x")
        self.read_only(True)
        self.addCleanup(self.read_only, False)
        with self.assertRaisesMessage(TransientError, "nouvel essai automatique"):
            mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$new$x")
        with self.assertRaises(TransientError):
            mailserver.user_set_password(address="paul@octopus-soignies.be", password_hash="{X}y")
        self.read_only(False)
        self.assertEqual(mailserver.user_row(ADDRESS)["password"], "{SHA512-CRYPT}$6$old$x")
        self.assertIsNone(mailserver.user_row("paul@octopus-soignies.be"))

    def test_it_retries_a_job_while_the_database_is_read_only(self):
        job = create_pierre()
        self.read_only(True)
        self.addCleanup(self.read_only, False)
        with self.assertRaises(TransientError):
            deliver(job)
        job.refresh_from_db()
        self.assertEqual(job.state, "queued")
        self.assertIn("refuse les écritures", job.last_error)
        self.assertEqual(sms_passwords(), [])
        self.read_only(False)
        self.assertEqual(deliver(job).state, "done")
        [password] = sms_passwords()
        self.assertTrue(passwords.verify(password, mailserver.user_row(ADDRESS)["password"]))

    def test_it_finds_every_column_it_needs(self):
        self.assertEqual(mailserver.missing_columns(), [])
        ids = {m.id for m in run_checks(databases=["mailserver"])}
        self.assertNotIn("provisioning.E007", ids)


class IspmailContract(MailTableContract):
    def test_it_reports_a_missing_column_at_start_up(self):
        with self.connection.cursor() as cursor:
            cursor.execute("ALTER TABLE virtual_users DROP COLUMN active")
        self.assertEqual(mailserver.missing_columns(), ["virtual_users.active"])
        errors = [m for m in run_checks(databases=["mailserver"]) if m.id == "provisioning.E007"]
        self.assertIn("virtual_users.active", errors[0].msg)


class PostfixadminContract(MailTableContract):
    schema = "postfixadmin"

    def test_it_writes_the_rows_postfixadmin_displays(self):
        mailserver.user_set_password(
            address=ADDRESS, password_hash="{SHA512-CRYPT}$6$x$y", name="Pierre Dupont"
        )
        [(name, maildir, local_part, domain, quota, active)] = self.fetch(
            "SELECT name, maildir, local_part, domain, quota, active FROM mailbox"
        )
        self.assertEqual(
            (name, maildir, local_part, domain, quota, bool(active)),
            ("Pierre Dupont", "octopus-soignies.be/pierre/", "pierre", "octopus-soignies.be",
             0, True),
        )  # fmt: skip
        [(created, modified)] = self.fetch("SELECT created, modified FROM mailbox")
        self.assertGreater(created.year, 2000)
        self.assertGreater(modified.year, 2000)
        self.assertEqual(
            [(a, g, bool(x)) for a, g, x in self.fetch("SELECT address, goto, active FROM alias")],
            [(ADDRESS, ADDRESS, True)],
        )

    def test_it_disables_the_alias_with_the_mailbox(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$x$y")
        mailserver.user_set_active(address=ADDRESS, active=False)
        [(active,)] = self.fetch("SELECT active FROM alias")
        self.assertFalse(active)

    def test_it_never_creates_a_postfixadmin_domain(self):
        with self.assertRaisesMessage(PermanentError, "exemple.be est absent"):
            mailserver.user_set_password(address="jean@exemple.be", password_hash="{X}y")
        self.assertEqual(self.fetch("SELECT domain FROM domain"), [("octopus-soignies.be",)])
        self.assertEqual(self.fetch("SELECT COUNT(*) FROM mailbox"), [(0,)])

    def test_it_never_creates_postfixadmin_tables(self):
        postfixadmin.drop_tables(self.connection)
        mailserver.create_tables(self.connection)
        tables = self.connection.introspection.table_names()
        self.assertFalse({"mailbox", "alias", "domain"} & set(tables))
        self.assertIn("mailbox (table)", mailserver.missing_columns())


class MainIspmailTests(IspmailContract, TransactionTestCase):
    pass


class MainPostfixadminTests(PostfixadminContract, TransactionTestCase):
    pass


class MariadbIspmailTests(IspmailContract, TransactionTestCase):
    engine = "mariadb"


class MariadbPostfixadminTests(PostfixadminContract, TransactionTestCase):
    engine = "mariadb"
