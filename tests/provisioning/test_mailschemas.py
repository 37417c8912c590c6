"""The same contract for every mail table layout on every engine: ISPmail and PostfixAdmin,
on the main mail database (PostgreSQL in CI) and on MariaDB."""

from django.core.checks import run_checks
from django.test import TransactionTestCase

from provisioning import aliases, mailschemas, mailserver, passwords, tasks
from provisioning.exceptions import PermanentError, TransientError

from ..base import DOMAIN, TEST_ACTOR, create_pierre, deliver, sms_passwords, the_domain
from ..fakes import postfixadmin
from ..mailtables import mail_database

ADDRESS = "pierre@octopus-soignies.be"
MARIE = f"marie@{DOMAIN}"
BUREAU = f"bureau@{DOMAIN}"
OUTSIDE = "tresorier@example.org"
MB = 1024**2
GB = 1024**3


class MailTableContract:
    engine = "main"
    schema = "ispmail"
    databases = {"default", "mailserver", "mailserver_mariadb"}

    def setUp(self):
        super().setUp()
        self.connection = self.enterContext(mail_database(self.engine, self.schema))
        the_domain()

    def fetch(self, sql, params=(), commit=False):
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [] if commit else [tuple(row) for row in cursor.fetchall()]

    def test_it_inserts_then_replaces_the_hash(self):
        first = passwords.hash_password("k7dmx-3qp9w-teh4n-c2rfa")
        second = passwords.hash_password("q2wer-t3yup-asd4f-ghj5k")
        mailserver.user_set_password(address=ADDRESS, password_hash=first, name="Pierre Dupont")
        mailserver.user_set_password(address=ADDRESS, password_hash=second, name="Pierre Dupont")
        row = mailserver.user_row(ADDRESS)
        self.assertEqual((row["password"], row["active"]), (second, True))
        self.assertTrue(passwords.verify("q2wer-t3yup-asd4f-ghj5k", row["password"]))
        self.assertEqual(mailserver.domain_users("octopus-soignies.be"), {ADDRESS: True})

    def test_it_writes_a_batch_of_hashes_with_the_rules_of_one(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}old", quota=GB)
        mailserver.user_set_active(address=ADDRESS, active=False)
        written = mailserver.users_set_passwords(
            [
                {"address": ADDRESS, "password_hash": "{X}new", "name": "Pierre", "quota": MB},
                {"address": MARIE, "password_hash": "{X}marie", "name": "Marie", "quota": MB},
            ]
        )
        self.assertEqual(written, {ADDRESS, MARIE})
        pierre, marie = mailserver.user_row(ADDRESS), mailserver.user_row(MARIE)
        # The existing row: its hash replaced, never enabled again, its quota kept.
        self.assertEqual((pierre["password"], pierre["active"], pierre["quota"]),
                         ("{X}new", False, GB))  # fmt: skip
        # The new row: enabled, with the quota given.
        self.assertEqual((marie["password"], marie["active"], marie["quota"]),
                         ("{X}marie", True, MB))  # fmt: skip
        self.assertEqual(self.delivered_to(MARIE), self.own_delivery_of(MARIE))

    def test_it_writes_no_batch_while_the_database_is_read_only(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}old")
        self.read_only(True)
        self.addCleanup(self.read_only, False)
        with self.assertRaisesMessage(TransientError, "nouvel essai automatique"):
            mailserver.users_set_passwords(
                [{"address": a, "password_hash": "{X}new"} for a in (ADDRESS, MARIE)]
            )
        self.read_only(False)
        self.assertEqual(mailserver.user_row(ADDRESS)["password"], "{X}old")
        self.assertIsNone(mailserver.user_row(MARIE))

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

    def test_it_deletes_a_user_and_nothing_else(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}a", name="Pierre Dupont")
        mailserver.user_set_password(address=MARIE, password_hash="{X}b")
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS, MARIE], active=True)
        self.assertTrue(mailserver.user_delete(address=ADDRESS))
        self.assertIsNone(mailserver.user_row(ADDRESS))
        self.assertEqual(mailserver.domain_users(DOMAIN), {MARIE: True})
        self.assertEqual(self.delivered_to(MARIE), self.own_delivery_of(MARIE))
        self.assertEqual(self.delivered_to(ADDRESS), [])
        # The aliases are the app's to change (provisioning.mailsync), never the gateway's.
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [ADDRESS, MARIE])
        self.assertFalse(mailserver.user_delete(address=ADDRESS))  # a retry finds it gone

    def test_it_deletes_nothing_while_the_database_is_read_only(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}a")
        self.read_only(True)
        self.addCleanup(self.read_only, False)
        with self.assertRaisesMessage(TransientError, "nouvel essai automatique"):
            mailserver.user_delete(address=ADDRESS)
        self.read_only(False)
        self.assertEqual(mailserver.user_row(ADDRESS)["password"], "{X}a")

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

    # --- aliases ---

    def test_it_writes_an_alias_then_replaces_its_destinations(self):
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS, MARIE], active=True)
        self.assertEqual(
            mailserver.alias_row(BUREAU), {"destinations": [ADDRESS, MARIE], "active": True}
        )
        mailserver.alias_set(source=BUREAU, destinations=[MARIE, OUTSIDE], active=True)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [MARIE, OUTSIDE])
        self.assertIsNone(mailserver.alias_row(f"info@{DOMAIN}"))

    def test_it_stops_a_disabled_alias_from_delivering(self):
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS], active=True)
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS], active=False)
        self.assertEqual(self.delivered_to(BUREAU), [])
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS], active=True)
        self.assertEqual(self.delivered_to(BUREAU), [ADDRESS])

    def test_it_deletes_an_alias_and_nothing_else(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$x$y")
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS], active=True)
        mailserver.alias_delete(source=BUREAU)
        mailserver.alias_delete(source=BUREAU)  # already gone: no error
        self.assertIsNone(mailserver.alias_row(BUREAU))
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])

    def test_it_refuses_to_write_an_alias_over_a_mailbox(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{SHA512-CRYPT}$6$x$y")
        for write in (
            lambda: mailserver.alias_set(source=ADDRESS, destinations=[MARIE], active=True),
            lambda: mailserver.alias_delete(source=ADDRESS),
        ):
            with self.assertRaisesMessage(PermanentError, "est une boîte aux lettres"):
                write()
        self.assertEqual(self.delivered_to(ADDRESS), self.own_delivery)

    def test_it_writes_nothing_of_an_alias_while_the_database_is_read_only(self):
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS], active=True)
        self.read_only(True)
        self.addCleanup(self.read_only, False)
        with self.assertRaisesMessage(TransientError, "nouvel essai automatique"):
            mailserver.alias_set(source=BUREAU, destinations=[MARIE, OUTSIDE], active=True)
        with self.assertRaises(TransientError):
            mailserver.alias_delete(source=BUREAU)
        self.read_only(False)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [ADDRESS])

    def test_it_retries_an_alias_while_the_database_is_read_only(self):
        create_pierre()
        alias = aliases.alias_save(source=BUREAU, destinations=[ADDRESS], actor=TEST_ACTOR).alias
        self.read_only(True)
        self.addCleanup(self.read_only, False)
        with self.assertRaises(TransientError):
            tasks.sync_alias(alias.pk)
        alias.refresh_from_db()
        self.assertEqual((alias.synced, "refuse les écritures" in alias.sync_error), (False, True))
        self.read_only(False)
        tasks.sync_alias(alias.pk)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [ADDRESS])

    def delivered_to(self, source: str) -> list[str]:
        """What Postfix's virtual_alias_maps query (as mailserver_config prints it) returns."""
        query = self.schema_of().postfix_maps["virtual_alias_maps"].replace("'%s'", "%s")
        rows = self.fetch(query, [source])
        return [part for (goto,) in rows for part in goto.split(",")]

    def schema_of(self):
        return mailschemas.SCHEMAS[self.schema]

    # --- quotas ---

    def test_it_inserts_a_user_with_its_quota_and_keeps_it_with_a_new_hash(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}a", quota=2 * GB)
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}b", quota=0)
        self.assertEqual(mailserver.user_row(ADDRESS)["quota"], 2 * GB)

    def test_it_sets_a_quota_and_reads_the_usage_dovecot_wrote(self):
        self.assertFalse(mailserver.user_set_quota(address=ADDRESS, quota=MB))  # no row yet
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}a")
        self.assertTrue(mailserver.user_set_quota(address=ADDRESS, quota=MB))
        self.assertEqual(mailserver.user_row(ADDRESS)["quota"], MB)
        self.assertEqual(mailserver.quota_usage([ADDRESS]), {})
        self.fetch("INSERT INTO quota2 (username, bytes, messages) VALUES (%s, %s, %s)",
                   [ADDRESS, 950 * 1024, 3], commit=True)  # fmt: skip
        self.assertEqual(
            mailserver.quota_usage([ADDRESS, MARIE]),
            {ADDRESS: {"bytes": 950 * 1024, "messages": 3, "quota": MB}},
        )
        self.assertEqual(mailserver.users_nearly_full(percent=90), [ADDRESS])
        self.assertEqual(mailserver.users_nearly_full(percent=95), [])

    def test_it_serves_dovecot_the_quota_rule(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}a", quota=MB)
        query = self.schema_of().dovecot_user_query.format(user=ADDRESS)
        self.assertEqual(self.fetch(query), [(ADDRESS, f"*:bytes={MB}")])


class IspmailContract(MailTableContract):
    own_delivery: list[str] = []  # a mailbox has no alias row of its own

    def own_delivery_of(self, address: str) -> list[str]:
        return []

    def test_it_keeps_one_row_per_destination(self):
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS, MARIE], active=True)
        rows = self.fetch(
            "SELECT a.destination, d.name FROM virtual_aliases a "
            "JOIN virtual_domains d ON d.id = a.domain_id WHERE a.source = %s ORDER BY a.id",
            [BUREAU],
        )
        self.assertEqual(rows, [(ADDRESS, DOMAIN), (MARIE, DOMAIN)])

    def test_it_reports_a_missing_column_at_start_up(self):
        with self.connection.cursor() as cursor:
            cursor.execute("ALTER TABLE virtual_users DROP COLUMN active")
        self.assertEqual(mailserver.missing_columns(), ["virtual_users.active"])
        errors = [m for m in run_checks(databases=["mailserver"]) if m.id == "provisioning.E007"]
        self.assertIn("virtual_users.active", errors[0].msg)


class PostfixadminContract(MailTableContract):
    schema = "postfixadmin"
    own_delivery = [ADDRESS]  # PostfixAdmin's alias of the mailbox to itself

    def own_delivery_of(self, address: str) -> list[str]:
        return [address]

    def test_it_deletes_the_mailbox_row_and_its_own_alias_row_as_postfixadmin_does(self):
        mailserver.user_set_password(address=ADDRESS, password_hash="{X}a", name="Pierre Dupont")
        # A forward set in PostfixAdmin's own pages: the mailbox's alias row goes all the same.
        self.fetch("UPDATE alias SET goto = %s WHERE address = %s",
                   [f"{ADDRESS},{OUTSIDE}", ADDRESS], commit=True)  # fmt: skip
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS], active=True)
        self.assertTrue(mailserver.user_delete(address=ADDRESS))
        self.assertEqual(self.fetch("SELECT COUNT(*) FROM mailbox"), [(0,)])
        self.assertEqual(self.fetch("SELECT address FROM alias"), [(BUREAU,)])
        self.assertEqual(self.fetch("SELECT domain FROM domain"), [(DOMAIN,)])

    def test_it_writes_the_alias_row_postfixadmin_displays(self):
        mailserver.alias_set(source=BUREAU, destinations=[ADDRESS, OUTSIDE], active=False)
        [(goto, domain, active, created)] = self.fetch(
            "SELECT goto, domain, active, created FROM alias WHERE address = %s", [BUREAU]
        )
        self.assertEqual((goto, domain, bool(active)), (f"{ADDRESS},{OUTSIDE}", DOMAIN, False))
        self.assertGreater(created.year, 2000)

    def test_it_never_writes_an_alias_on_a_domain_postfixadmin_lacks(self):
        with self.assertRaisesMessage(PermanentError, "exemple.be est absent"):
            mailserver.alias_set(source="info@exemple.be", destinations=[ADDRESS], active=True)
        self.assertEqual(self.fetch("SELECT COUNT(*) FROM alias"), [(0,)])

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

    def test_it_leaves_out_of_a_batch_a_user_whose_domain_postfixadmin_lacks(self):
        written = mailserver.users_set_passwords(
            [{"address": a, "password_hash": "{X}y"} for a in ("jean@exemple.be", ADDRESS)]
        )
        self.assertEqual(written, {ADDRESS})
        self.assertEqual(self.fetch("SELECT username FROM mailbox"), [(ADDRESS,)])
        self.assertEqual(self.fetch("SELECT domain FROM domain"), [("octopus-soignies.be",)])

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
