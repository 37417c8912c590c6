"""createalias, deletealias, setquota: French errors and exit 1 on bad input, nothing written;
the mail table written before the command ends."""

import io
from unittest import mock

from django.core.management import CommandError, call_command

from accounts.models import Alias, AliasDestination
from provisioning import mailserver
from provisioning.exceptions import TransientError

from ..base import DOMAIN, OctopusTestCase, create_pierre, deliver

PIERRE = f"pierre@{DOMAIN}"
MARIE = f"marie@{DOMAIN}"
BUREAU = f"bureau@{DOMAIN}"


class CommandTestCase(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.pierre = deliver(create_pierre()).mailbox
        create_pierre(local_part="marie", full_name="Marie Martin", personal_email="m@example.org")

    def call(self, name, *args):
        out, err = io.StringIO(), io.StringIO()
        call_command(name, *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def assertFails(self, message, name, *args, returncode=1):
        with self.assertRaises(CommandError) as caught:
            self.call(name, *args)
        self.assertIn(message, str(caught.exception))
        self.assertEqual(caught.exception.returncode, returncode)


class CreateAliasCommandTests(CommandTestCase):
    def test_it_creates_the_alias_and_writes_the_mail_table_before_it_ends(self):
        out, _err = self.call("createalias", BUREAU, PIERRE, MARIE)
        self.assertIn(f"Alias {BUREAU} créé → {PIERRE}, {MARIE}.", out)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], [PIERRE, MARIE])
        self.assertTrue(Alias.objects.get().synced)

    def test_it_replaces_the_destinations_of_an_existing_source(self):
        self.call("createalias", BUREAU, PIERRE, MARIE)
        out, _err = self.call("createalias", BUREAU, "tresorier@example.org")
        self.assertIn(f"Alias {BUREAU} modifié → tresorier@example.org.", out)
        self.assertEqual(mailserver.alias_row(BUREAU)["destinations"], ["tresorier@example.org"])

    def test_it_prints_the_warnings(self):
        _out, err = self.call("createalias", BUREAU, "tresorier@example.org")
        self.assertIn("SRS, par exemple postsrsd", err)

    def test_it_names_each_bad_argument_and_writes_nothing(self):
        with self.assertRaises(CommandError) as caught:
            self.call("createalias", "bureau@exemple.be", "pas-une-adresse", f"paul@{DOMAIN}")
        text = str(caught.exception)
        self.assertIn("SOURCE : Le domaine « exemple.be » n'est pas géré ici", text)
        self.assertIn("DEST : Destination « pas-une-adresse » : ce n'est pas une adresse", text)
        self.assertEqual((Alias.objects.count(), AliasDestination.objects.count()), (0, 0))

    def test_it_refuses_a_source_that_is_a_mailbox(self):
        self.assertFails("est une adresse mail (une boîte)", "createalias", PIERRE, MARIE)
        self.assertIsNone(mailserver.alias_row(PIERRE))

    def test_it_refuses_a_loop(self):
        self.call("createalias", f"info@{DOMAIN}", BUREAU.replace("bureau", "marie"))
        self.call("createalias", BUREAU, f"info@{DOMAIN}")
        self.assertFails(f"Boucle : info@{DOMAIN} → {BUREAU} → info@{DOMAIN}",
                         "createalias", f"info@{DOMAIN}", BUREAU)  # fmt: skip

    def test_it_says_when_the_mail_table_is_left_to_the_retries(self):
        away = TransientError("La base de données du serveur mail ne répond pas.")
        with mock.patch("provisioning.mailserver.alias_set", side_effect=away):
            self.assertFails("pas encore écrit dans la table du serveur mail : La base",
                             "createalias", BUREAU, PIERRE, returncode=2)  # fmt: skip
        self.assertFalse(Alias.objects.get().synced)  # recorded: the worker writes it later

    def test_it_only_records_with_no_wait(self):
        out, _err = self.call("createalias", BUREAU, PIERRE, "--no-wait")
        self.assertIn("le worker l'écrit", out)
        self.assertIsNone(mailserver.alias_row(BUREAU))


class DeleteAliasCommandTests(CommandTestCase):
    def test_it_deletes_the_alias_from_both_tables(self):
        self.call("createalias", BUREAU, PIERRE)
        out, _err = self.call("deletealias", BUREAU)
        self.assertIn(f"Alias {BUREAU} supprimé.", out)
        self.assertIsNone(mailserver.alias_row(BUREAU))
        self.assertFalse(Alias.objects.exists())

    def test_it_refuses_an_unknown_alias(self):
        self.assertFails(f"L'alias info@{DOMAIN} n'existe pas.", "deletealias", f"info@{DOMAIN}")


class SetQuotaCommandTests(CommandTestCase):
    def test_it_sets_the_quota_in_the_mail_table_before_it_ends(self):
        out, _err = self.call("setquota", PIERRE, "1M")
        self.assertIn(f"Quota de {PIERRE} : 1 Mo.", out)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], 1024**2)
        self.call("setquota", PIERRE, "0")
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], 0)

    def test_it_sets_a_domain_default_that_mailboxes_follow(self):
        out, _err = self.call("setquota", f"@{DOMAIN}", "2G")
        self.assertIn(f"Quota par défaut de {DOMAIN} : 2 Go (2 adresse(s) concernée(s)).", out)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], 2 * 1024**3)
        self.call("setquota", PIERRE, "500M")
        out, _err = self.call("setquota", PIERRE, "defaut")
        self.assertIn(f"Quota de {PIERRE} : 2 Go (défaut du domaine).", out)
        self.assertEqual(mailserver.user_row(PIERRE)["quota"], 2 * 1024**3)

    def test_it_refuses_what_is_not_a_size(self):
        self.assertFails("« deux gigas » n'est pas une taille", "setquota", PIERRE, "deux gigas")
        self.pierre.refresh_from_db()
        self.assertIsNone(self.pierre.quota)

    def test_it_refuses_an_unknown_address(self):
        self.assertFails(
            f"L'adresse paul@{DOMAIN} n'existe pas.", "setquota", f"paul@{DOMAIN}", "1G"
        )


class DisableMailboxCommandTests(CommandTestCase):
    def test_it_says_which_aliases_still_reach_the_disabled_mailbox(self):
        self.call("createalias", BUREAU, PIERRE, MARIE)
        _out, err = self.call("disablemailbox", PIERRE)
        self.assertIn(f"Alias qui mènent encore à {PIERRE} : {BUREAU}", err)
