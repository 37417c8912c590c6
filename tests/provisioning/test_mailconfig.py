"""mailserver_config: what it prints for each schema and Dovecot version, and its refusals."""

import io
import os
import tempfile
from pathlib import Path

from django.core.management import CommandError, call_command
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.test import TransactionTestCase, override_settings

from provisioning import mailserver

from ..mailtables import mail_database


def run(*args) -> str:
    out = io.StringIO()
    call_command("mailserver_config", *args, stdout=out)
    return out.getvalue()


class MailserverConfigTests(TransactionTestCase):
    databases = {"default", "mailserver", "mailserver_mariadb"}

    def setUp(self):
        if connections[mailserver.ALIAS].vendor == "sqlite":
            self.skipTest("the main mail database is SQLite here; CI runs it on PostgreSQL")

    def test_it_prints_the_ispmail_queries_that_skip_disabled_accounts(self):
        text = run()
        self.assertIn("driver = pgsql", text)
        self.assertIn(
            "password_query = SELECT email AS user, password FROM virtual_users "
            "WHERE email = '%u' AND active = TRUE",
            text,
        )
        self.assertIn("default_pass_scheme = SHA512-CRYPT", text)
        self.assertIn("SELECT 1 FROM virtual_users WHERE email = '%s' AND active = TRUE", text)

    @override_settings(MAILSERVER_PASSWORD_SCHEME="ARGON2ID")
    def test_it_prints_the_dovecot_2_4_syntax(self):
        text = run("--dovecot", "2.4", "--db-user", "dovecot", "--db-password", "lecture")
        self.assertIn("passdb sql {\n  default_password_scheme = ARGON2ID", text)
        self.assertIn("WHERE email = '%{user}' AND active = TRUE", text)
        self.assertIn("user = dovecot\n    password = lecture", text)
        self.assertNotIn("'%u'", text)

    def test_it_prints_the_postfixadmin_queries_for_mariadb(self):
        with mail_database("mariadb", "postfixadmin"):
            text = run()
        self.assertIn("driver = mysql", text)
        self.assertIn("FROM mailbox WHERE username = '%u' AND active = TRUE", text)
        self.assertIn("SELECT maildir FROM mailbox WHERE username = '%s' AND active = TRUE", text)
        self.assertIn("SELECT goto FROM alias WHERE address = '%s' AND active = TRUE", text)

    def test_it_serves_each_users_quota_rule_to_dovecot(self):
        text = run()
        self.assertIn(
            "user_query = SELECT email AS user, CONCAT('*:bytes=', quota) AS quota_rule "
            "FROM virtual_users WHERE email = '%u' AND active = TRUE",
            text,
        )
        with mail_database("mariadb", "postfixadmin"):
            self.assertIn("CONCAT('*:bytes=', quota) AS quota_rule FROM mailbox", run())

    def test_it_prints_the_quota_plugin_and_the_dict_that_writes_quota2(self):
        text = run("--mail-user", "vmail", "--dovecot-dir", "/etc/dovecot/")
        for expected in (
            "mail_plugins = $mail_plugins quota\n",
            "protocol lmtp {\n  mail_plugins = $mail_plugins quota\n}",
            "mail_plugins = $mail_plugins quota imap_quota",
            "quota = dict:User quota::proxy::quota",
            "quota = pgsql:/etc/dovecot/dovecot-dict-sql.conf.ext",
            "    user = vmail\n    group = vmail",
            "pattern = priv/quota/storage\n  table = quota2\n  username_field = username\n"
            "  value_field = bytes",
            "pattern = priv/quota/messages\n  table = quota2\n  username_field = username\n"
            "  value_field = messages",
        ):
            self.assertIn(expected, text)

    def test_it_leaves_quotas_out_of_the_dovecot_2_4_syntax(self):
        text = run("--dovecot", "2.4")
        self.assertNotIn("quota_rule", text)
        self.assertIn("Quotas are not configured for 2.4", text)

    def test_it_prints_the_mail_hosts_job_that_removes_erased_maildirs(self):
        text = run("--mail-root", "/srv/vmail", "--app-command", "ssh app ./manage.py")
        self.assertIn("# ===== octopus-erased-maildirs =====", text)
        self.assertIn(
            "17 4 * * * root cd /srv/vmail && ssh app ./manage.py erasedmaildirs --since 7d | "
            "grep -xE '[a-z0-9-]+(\\.[a-z0-9-]+)+/[a-z0-9]+([._-][a-z0-9]+)*/' | "
            "xargs -r rm -rf --\n",
            text,
        )
        self.assertIn("erasedmaildirs --since 7d", run("--dovecot", "2.4"))

    def test_it_writes_one_private_file_each(self):
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        run("--output-dir", str(folder))
        names = sorted(path.name for path in folder.iterdir())
        self.assertEqual(
            names,
            ["90-quota.conf", "dovecot-dict-sql.conf.ext", "dovecot-sql.conf.ext",
             "octopus-erased-maildirs", "virtual_alias_maps.cf", "virtual_mailbox_domains.cf",
             "virtual_mailbox_maps.cf"],
        )  # fmt: skip
        self.assertEqual(os.stat(folder / "dovecot-sql.conf.ext").st_mode & 0o777, 0o640)


class MailserverConfigRefusalTests(TransactionTestCase):
    databases = {"default", "mailserver"}

    def test_it_refuses_a_sqlite_mail_database_in_french(self):
        sqlite = SQLiteWrapper(
            {**connections[mailserver.ALIAS].settings_dict, "NAME": ":memory:"},
            alias=mailserver.ALIAS,
        )
        original = connections[mailserver.ALIAS]
        connections[mailserver.ALIAS] = sqlite
        self.addCleanup(connections.__setitem__, mailserver.ALIAS, original)
        with self.assertRaisesMessage(CommandError, "ne peuvent pas lire cette base (sqlite)"):
            run()
