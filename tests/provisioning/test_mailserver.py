"""The mail server's SQL tables, with the real SQL of the configured database."""

from django.db import connections
from django.test import override_settings

from provisioning import mailserver, passwords
from provisioning.exceptions import PermanentError, TransientError

from ..base import DOMAIN, OctopusTestCase
from .doubles import ADDRESS, mail_table_counts, mailserver_refusing_connections

HASH_A = "{SHA512-CRYPT}$6$saltsaltsaltsalt$first"
HASH_B = "{SHA512-CRYPT}$6$saltsaltsaltsalt$second"


def fetch(sql: str, params=()) -> list[tuple]:
    with connections[mailserver.ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def columns(table: str) -> list[str]:
    connection = connections[mailserver.ALIAS]
    with connection.cursor() as cursor:
        return [c.name for c in connection.introspection.get_table_description(cursor, table)]


class UserSetPasswordTests(OctopusTestCase):
    def test_it_inserts_an_active_row_with_the_hash(self):
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        self.assertEqual(
            mailserver.user_row(ADDRESS),
            {"email": ADDRESS, "password": HASH_A, "active": True, "quota": 0},
        )

    def test_it_updates_the_same_row_with_a_new_hash(self):
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_B)
        rows = fetch("SELECT password FROM virtual_users WHERE email = %s", [ADDRESS])
        self.assertEqual(rows, [(HASH_B,)])

    def test_it_creates_the_domain_row_once(self):
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        mailserver.user_set_password(address=f"marie@{DOMAIN}", password_hash=HASH_B)
        self.assertEqual(fetch("SELECT name FROM virtual_domains"), [(DOMAIN,)])
        linked = fetch(
            "SELECT u.email FROM virtual_users u JOIN virtual_domains d ON d.id = u.domain_id "
            "WHERE d.name = %s ORDER BY u.email",
            [DOMAIN],
        )
        self.assertEqual(linked, [(f"marie@{DOMAIN}",), (ADDRESS,)])

    def test_it_keeps_a_domain_row_that_was_already_there(self):
        with connections[mailserver.ALIAS].cursor() as cursor:
            cursor.execute("INSERT INTO virtual_domains (name) VALUES (%s)", [DOMAIN])
        [(domain_id,)] = fetch("SELECT id FROM virtual_domains WHERE name = %s", [DOMAIN])
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        self.assertEqual(
            fetch("SELECT domain_id FROM virtual_users WHERE email = %s", [ADDRESS]),
            [(domain_id,)],
        )

    def test_it_keeps_a_disabled_row_disabled_with_a_new_hash(self):
        # Only enablemailbox enables: a job racing a disable must not undo it (issue #15).
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        mailserver.user_set_active(address=ADDRESS, active=False)
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_B)
        self.assertEqual(
            mailserver.user_row(ADDRESS),
            {"email": ADDRESS, "password": HASH_B, "active": False, "quota": 0},
        )

    def test_it_stores_a_hash_that_verifies(self):
        stored = passwords.hash_password("k7dmx-3qp9w-teh4n-c2rfa")
        mailserver.user_set_password(address=ADDRESS, password_hash=stored)
        row = mailserver.user_row(ADDRESS)
        self.assertTrue(passwords.verify("k7dmx-3qp9w-teh4n-c2rfa", row["password"]))

    def test_it_reports_a_refused_connection_as_transient(self):
        with mailserver_refusing_connections():
            with self.assertRaises(TransientError) as raised:
                mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        self.assertIn("ne répond pas", raised.exception.message)
        self.assertIsNone(mailserver.user_row(ADDRESS))

    def test_it_leaves_the_hash_out_of_its_error_messages(self):
        with mailserver_refusing_connections():
            with self.assertRaises(TransientError) as raised:
                mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        self.assertNotIn(HASH_A, str(raised.exception))


class UserSetActiveTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)

    def test_it_disables_the_row(self):
        mailserver.user_set_active(address=ADDRESS, active=False)
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])

    def test_it_enables_the_row_again(self):
        mailserver.user_set_active(address=ADDRESS, active=False)
        mailserver.user_set_active(address=ADDRESS, active=True)
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])

    def test_it_keeps_the_hash(self):
        mailserver.user_set_active(address=ADDRESS, active=False)
        self.assertEqual(mailserver.user_row(ADDRESS)["password"], HASH_A)

    def test_it_touches_only_that_address(self):
        mailserver.user_set_password(address=f"marie@{DOMAIN}", password_hash=HASH_B)
        mailserver.user_set_active(address=ADDRESS, active=False)
        self.assertTrue(mailserver.user_row(f"marie@{DOMAIN}")["active"])

    def test_it_refuses_an_unknown_address(self):
        with self.assertRaises(PermanentError) as raised:
            mailserver.user_set_active(address=f"inconnu@{DOMAIN}", active=False)
        self.assertEqual(
            raised.exception.message,
            f"L'adresse inconnu@{DOMAIN} est absente de la table du serveur mail.",
        )

    def test_it_reports_a_refused_connection_as_transient(self):
        with mailserver_refusing_connections(), self.assertRaises(TransientError):
            mailserver.user_set_active(address=ADDRESS, active=False)
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])


class UserRowTests(OctopusTestCase):
    def test_it_returns_none_for_an_absent_address(self):
        self.assertIsNone(mailserver.user_row(ADDRESS))

    def test_it_reports_a_refused_connection_as_transient(self):
        with mailserver_refusing_connections(), self.assertRaises(TransientError):
            mailserver.user_row(ADDRESS)


class CreateTablesTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.connection = connections[mailserver.ALIAS]

    def test_it_is_idempotent_and_keeps_the_rows(self):
        mailserver.user_set_password(address=ADDRESS, password_hash=HASH_A)
        before = mail_table_counts()
        mailserver.create_tables(self.connection)
        mailserver.create_tables(self.connection)
        self.assertEqual(mail_table_counts(), before)
        self.assertEqual(mailserver.user_row(ADDRESS)["password"], HASH_A)

    def test_it_creates_the_ispmail_tables(self):
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE virtual_aliases")
            cursor.execute("DROP TABLE virtual_users")
            cursor.execute("DROP TABLE virtual_domains")
        mailserver.create_tables(self.connection)
        self.assertEqual(
            columns("virtual_users"), ["id", "domain_id", "email", "password", "quota", "active"]
        )
        self.assertEqual(columns("virtual_domains"), ["id", "name"])
        self.assertEqual(columns("virtual_aliases"), ["id", "domain_id", "source", "destination"])

    def test_it_never_alters_an_existing_table(self):
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE virtual_aliases")
            cursor.execute(
                "CREATE TABLE virtual_aliases (id INTEGER PRIMARY KEY, domain_id INTEGER, "
                "source VARCHAR(320), destination VARCHAR(320), comment VARCHAR(100))"
            )
        mailserver.create_tables(self.connection)
        self.assertIn("comment", columns("virtual_aliases"))

    def test_it_leaves_the_password_column_wide_enough_for_every_scheme(self):
        longest = "{SHA512-CRYPT}" + "x" * 241
        self.assertEqual(len(longest), 255)
        mailserver.user_set_password(address=ADDRESS, password_hash=longest)
        self.assertEqual(mailserver.user_row(ADDRESS)["password"], longest)

    @override_settings(MAILSERVER_SCHEMA="postfixadmin")
    def test_it_creates_nothing_for_another_schema(self):
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE virtual_aliases")
        mailserver.create_tables(self.connection)
        tables = self.connection.introspection.table_names()
        self.assertNotIn("virtual_aliases", tables)
