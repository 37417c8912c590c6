"""Drift (mailserver_audit): the app against the mail table, repaired only where owned."""

import io

from django.core.management import CommandError, call_command
from django.db import connections

from provisioning import mailserver, passwords

from ..base import OctopusTestCase, create_pierre, create_pierre_outcome, deliver, sms_passwords

OTHER = "inconnu@octopus-soignies.be"


class MailserverDriftTests(OctopusTestCase):
    def audit(self, *args) -> tuple[str, str | None]:
        """What the command printed, and its error (None when it found no difference)."""
        out = io.StringIO()
        try:
            call_command("mailserver_audit", *args, stdout=out)
        except CommandError as exc:
            return out.getvalue(), str(exc)
        return out.getvalue(), None

    def test_it_says_when_everything_matches(self):
        deliver(create_pierre())
        self.assertEqual(
            self.audit(), ("La table du serveur mail correspond à l'application.\n", None)
        )

    def test_it_repairs_the_active_flag_it_owns(self):
        mailbox = deliver(create_pierre()).mailbox
        mailserver.user_set_active(address=mailbox.address, active=False)
        output, error = self.audit()
        self.assertIn("active ici mais désactivée dans la table. [à réparer (--fix)]", output)
        self.assertEqual(error, "1 différence(s) restante(s).")
        output, error = self.audit("--fix")
        self.assertIn("[réparé]", output)
        self.assertIsNone(error)
        self.assertTrue(mailserver.user_row(mailbox.address)["active"])

    def test_it_never_touches_a_row_it_does_not_own(self):
        deliver(create_pierre())
        mailserver.user_set_password(address=OTHER, password_hash="{SHA512-CRYPT}$6$a$b")
        output, error = self.audit("--fix")
        self.assertIn(f"{OTHER} : dans la table mais inconnue", output)
        self.assertIsNotNone(error)
        row = mailserver.user_row(OTHER)
        self.assertEqual((row["password"], row["active"]), ("{SHA512-CRYPT}$6$a$b", True))

    def test_it_reports_a_missing_row_with_the_command_that_fixes_it(self):
        mailbox = deliver(create_pierre()).mailbox
        with connections[mailserver.ALIAS].cursor() as cursor:
            cursor.execute("DELETE FROM virtual_users")
        output, error = self.audit("--fix")
        self.assertIn(f"(resetpassword {mailbox.address})", output)
        self.assertEqual(error, "1 différence(s) restante(s).")

    def test_it_accepts_a_pending_mailbox_without_a_row(self):
        create_pierre()
        self.assertIsNone(self.audit()[1])


class AdoptedRowTests(OctopusTestCase):
    def test_it_adopts_a_row_made_by_hand_and_replaces_its_password_only_in_the_job(self):
        address = "pierre@octopus-soignies.be"
        mailserver.user_set_password(address=address, password_hash="{SHA512-CRYPT}$6$old$x")
        outcome = create_pierre_outcome()
        self.assertTrue(outcome.adopted_row)
        job = outcome.job
        self.assertEqual(mailserver.user_row(address)["password"], "{SHA512-CRYPT}$6$old$x")
        deliver(job)
        [password] = sms_passwords()
        self.assertTrue(passwords.verify(password, mailserver.user_row(address)["password"]))

    def test_it_shows_the_administrator_the_adoption(self):
        mailserver.user_set_password(
            address="pierre@octopus-soignies.be", password_hash="{SHA512-CRYPT}$6$old$x"
        )
        err = io.StringIO()
        with self.captureOnCommitCallbacks(execute=True):
            call_command(
                "createmailbox", "pierre@octopus-soignies.be", "--name", "Pierre Dupont",
                "--phone", "+32470123456", "--personal-email", "pierre@example.org",
                "--no-wait", stdout=io.StringIO(), stderr=err,
            )  # fmt: skip
        self.assertIn("contenait déjà pierre@octopus-soignies.be", err.getvalue())
