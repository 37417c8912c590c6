"""deletemailbox, exportmember, erasedmaildirs, and the maildir job mailserver_config prints:
French errors, non-zero exits, nothing changed on bad input."""

import io
import json
import os
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.management import CommandError, call_command
from django.test import SimpleTestCase, override_settings
from django.utils import timezone

from accounts.management.commands.erasedmaildirs import parse_since
from accounts.models import Mailbox, Member
from audit.models import Action, AuditRecord, Outcome
from provisioning import mailconfig, mailserver

from ..base import DOMAIN, MEMBER, OctopusTestCase, create_pierre, deliver

ADDRESS = f"pierre@{DOMAIN}"


def call(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class DeleteMailboxCommandTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.mailbox = deliver(create_pierre()).mailbox

    def test_it_refuses_logins_at_once_and_says_when_the_data_goes(self):
        out, _err = call("deletemailbox", ADDRESS)
        self.mailbox.refresh_from_db()
        due = timezone.localtime(self.mailbox.deleted_at + timedelta(days=30))
        self.assertIn(f"{ADDRESS} est supprimée : plus aucune connexion possible", out)
        self.assertIn(f"effacées le {due:%d/%m/%Y}", out)
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        record = AuditRecord.objects.get(action=Action.MAILBOX_DELETE)
        self.assertTrue(record.actor_label.startswith("système (commande deletemailbox"))

    def test_it_refuses_now_without_yes_and_changes_nothing(self):
        with self.assertRaisesMessage(CommandError, "ajoutez --yes pour le confirmer") as caught:
            call("deletemailbox", ADDRESS, "--now")
        self.assertEqual(caught.exception.returncode, 1)
        self.mailbox.refresh_from_db()
        self.assertEqual(self.mailbox.status, Mailbox.Status.ACTIVE)
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])
        self.assertFalse(AuditRecord.objects.filter(action=Action.MAILBOX_DELETE).exists())

    def test_it_erases_at_once_with_now_and_yes(self):
        out, _err = call("deletemailbox", ADDRESS, "--now", "--yes")
        self.assertIn("ses données sont effacées", out)
        self.assertIsNone(mailserver.user_row(ADDRESS))
        self.assertEqual(Member.objects.get().full_name, "membre effacé")

    def test_it_explains_an_unknown_or_deleted_address(self):
        with self.assertRaisesMessage(CommandError, "n'existe pas"):
            call("deletemailbox", f"personne@{DOMAIN}")
        call("deletemailbox", ADDRESS)
        with self.assertRaisesMessage(CommandError, "est déjà supprimée"):
            call("deletemailbox", ADDRESS)

    def test_it_lists_the_aliases_that_reached_it(self):
        call("createalias", f"bureau@{DOMAIN}", ADDRESS)
        _out, err = call("deletemailbox", ADDRESS)
        self.assertIn(f"Alias qui menaient à {ADDRESS} : bureau@{DOMAIN}", err)


class ExportMemberCommandTests(OctopusTestCase):
    def test_it_prints_everything_held_about_the_member_and_why(self):
        mailbox = deliver(create_pierre()).mailbox
        call("createalias", f"bureau@{DOMAIN}", ADDRESS)
        out, _err = call("exportmember", ADDRESS.upper())
        document = json.loads(out)
        self.assertEqual(document["membre"]["données"]["nom_complet"], MEMBER["full_name"])
        self.assertEqual(document["membre"]["données"]["gsm"], MEMBER["phone"])
        self.assertEqual(document["membre"]["données"]["email_personnel"], MEMBER["personal_email"])
        for section in ("membre", "adresses", "envois", "demandes", "journal"):
            with self.subTest(section=section):
                self.assertTrue(document[section]["pourquoi"])
                self.assertTrue(document[section]["conservation"])
                self.assertIn("depuis", document[section])
        [address] = document["adresses"]["données"]
        self.assertEqual(address["adresse"], ADDRESS)
        self.assertEqual(address["alias_qui_y_mènent"],
                         [{"alias": f"bureau@{DOMAIN}", "via": [], "actif": True}])  # fmt: skip
        self.assertEqual(address["table_du_serveur_mail"]["présente"], True)
        [job] = document["envois"]["données"]
        self.assertEqual(job["sms"]["identifiant"], mailbox.jobs.get().sms_message_id)
        self.assertIn("création d'une adresse", [r["acte"] for r in document["journal"]["données"]])
        # Never a password, nor its hash.
        self.assertNotIn(mailserver.user_row(ADDRESS)["password"], out)
        self.assertNotIn("{SHA512-CRYPT}", out)
        self.assertIn("Pierre Dupont", out)  # UTF-8 as is, not \\u escapes
        self.assertIn("données", out)
        record = AuditRecord.objects.get(action=Action.MEMBER_EXPORT)
        self.assertEqual((record.target, record.outcome), (ADDRESS, Outcome.SUCCESS))

    def test_it_explains_an_unknown_address(self):
        with self.assertRaisesMessage(CommandError, "n'existe pas"):
            call("exportmember", f"personne@{DOMAIN}")
        record = AuditRecord.objects.get(action=Action.MEMBER_EXPORT)
        self.assertEqual(record.outcome, Outcome.REFUSED)

    def test_it_exports_what_is_left_after_the_erasure(self):
        deliver(create_pierre())
        call("deletemailbox", ADDRESS, "--now", "--yes")
        document = json.loads(call("exportmember", ADDRESS)[0])
        self.assertEqual(document["membre"]["données"]["nom_complet"], "membre effacé")
        self.assertIn("Effacées le", document["membre"]["conservation"])
        self.assertNotIn(MEMBER["personal_email"], json.dumps(document))


class ErasedMaildirsCommandTests(OctopusTestCase):
    def test_it_prints_one_maildir_a_line_of_the_mailboxes_erased_since_then(self):
        deliver(create_pierre())
        deliver(create_pierre(local_part="marie", personal_email="marie@example.org"))
        call("deletemailbox", ADDRESS, "--now", "--yes")
        call("deletemailbox", f"marie@{DOMAIN}")  # deleted, not erased yet: its files stay
        self.assertEqual(call("erasedmaildirs", "--since", "today")[0], f"{DOMAIN}/pierre/\n")
        tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
        self.assertEqual(call("erasedmaildirs", "--since", tomorrow)[0], "")

    def test_it_refuses_a_date_it_cannot_read(self):
        with self.assertRaisesMessage(CommandError, "écrivez une date (2026-12-01)"):
            call("erasedmaildirs", "--since", "la semaine passée")


class SinceTests(SimpleTestCase):
    def test_it_reads_dates_days_and_words(self):
        today = timezone.localdate()
        midnight = parse_since("today")
        self.assertEqual((timezone.localtime(midnight).date(), midnight.hour), (today, 0))
        self.assertEqual(timezone.localtime(parse_since("7d")).date(), today - timedelta(days=7))
        self.assertEqual(timezone.localtime(parse_since("yesterday")).date(),
                         today - timedelta(days=1))  # fmt: skip
        self.assertEqual(timezone.localtime(parse_since("2026-12-01")).isoformat()[:19],
                         "2026-12-01T00:00:00")  # fmt: skip
        self.assertTrue(timezone.is_aware(parse_since("2026-12-01T10:30")))


class MaildirJobTests(SimpleTestCase):
    """The job the mail host runs removes nothing but `domain/user/` below its mail root."""

    def test_it_is_printed_by_mailserver_config(self):
        job = mailconfig.erased_maildirs_job(mail_root="/var/vmail", app_command="manage.py")
        self.assertIn(
            "17 4 * * * root cd /var/vmail && manage.py erasedmaildirs --since 7d | grep -xE ",
            job,
        )
        self.assertTrue(job.endswith(" | xargs -r rm -rf --\n"))
        self.assertEqual(len([line for line in job.splitlines() if not line.startswith("#")]), 1)

    def test_it_removes_only_safe_maildirs_below_the_root(self):
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            root = base / "vmail"
            kept = [
                base / "outside", root / DOMAIN / "marie", root / "etc",
                root / "x" / "pierre",  # no dot in the domain
            ]  # fmt: skip
            removed = root / DOMAIN / "pierre.dupont"
            for folder in (*kept, removed):
                (folder / "Maildir" / "cur").mkdir(parents=True)
            # A stand-in for the app that prints hostile lines, then one true maildir.
            lines = [
                "../outside/", f"{DOMAIN}/../../outside/", f"/{tmp}/outside/", "etc/",
                f"{DOMAIN}/marie /", f"{DOMAIN}/..marie/", "x/pierre/", f"{DOMAIN}/pierre.dupont/",
            ]  # fmt: skip
            app = "printf '%s\\n' " + " ".join(f"'{line}'" for line in lines)
            job = mailconfig.erased_maildirs_job(mail_root=str(root), app_command=app)
            [line] = [line for line in job.splitlines() if not line.startswith("#")]
            command = line.split(" root ", 1)[1]
            subprocess.run(["sh", "-c", command], check=True, timeout=30)
            self.assertFalse(removed.exists())
            for folder in kept:
                self.assertTrue(folder.exists(), folder)

    @override_settings(BASE_DIR=Path("/srv/octopus-mail"))
    def test_it_runs_this_host_manage_py_by_default(self):
        self.assertTrue(mailconfig.default_app_command().endswith("/srv/octopus-mail/manage.py"))
        self.assertEqual(mailconfig.maildir_of(f"Pierre@{DOMAIN}"), f"{DOMAIN}/pierre/")
        self.assertIsNone(mailconfig.maildir_of("../x@octopus-soignies.be"))
        self.assertTrue(os.path.isabs(mailconfig.default_app_command().split()[0]))
