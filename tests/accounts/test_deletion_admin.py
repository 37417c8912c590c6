"""The admin's « Supprimer » (a French confirmation page; erasing at once is a choice made
there) and « Exporter les données (JSON) » on mailboxes and members."""

import json

from accounts.models import Mailbox, Member
from audit.models import Action, AuditRecord
from provisioning import aliases, mailserver
from roles.groups import MANAGERS

from ..base import (
    DOMAIN,
    MEMBER,
    TEST_ACTOR,
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
)
from ..test_roles import make_verified_staff

LIST_URL = "/admin/accounts/mailbox/"
MEMBERS_URL = "/admin/accounts/member/"
ADDRESS = f"pierre@{DOMAIN}"


class DeleteActionTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])
        self.mailbox = deliver(create_pierre()).mailbox

    def post(self, **extra):
        data = {"action": "delete_mailboxes", "_selected_action": [self.mailbox.pk], **extra}
        return self.client.post(LIST_URL, data, follow=bool(extra))

    def test_it_asks_first_and_changes_nothing_until_confirmed(self):
        page = self.post()
        self.assertContains(page, "Ces adresses seront supprimées")
        self.assertContains(page, f"{ADDRESS} (Pierre Dupont)")
        self.assertContains(page, "effacés 30 jours après la suppression")
        self.assertContains(page, "Les effacer tout de suite (irréversible)")
        self.assertRegex(page.content.decode(), r'value="later"[^>]* checked')  # the default
        self.mailbox.refresh_from_db()
        self.assertEqual(self.mailbox.status, Mailbox.Status.ACTIVE)
        self.assertFalse(AuditRecord.objects.filter(action=Action.MAILBOX_DELETE).exists())

    def test_it_deletes_and_keeps_the_data_until_the_retention_delay(self):
        page = self.post(confirm="Oui", erase="later")
        self.assertContains(page, "supprimée, plus aucune connexion possible")
        self.mailbox.refresh_from_db()
        self.assertEqual(self.mailbox.status, Mailbox.Status.DELETED)
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        self.assertEqual(Member.objects.get().full_name, MEMBER["full_name"])
        record = AuditRecord.objects.get(action=Action.MAILBOX_DELETE)
        self.assertEqual((record.actor, record.target), (self.admin, ADDRESS))
        self.assertContains(self.client.get(LIST_URL), "supprimée")

    def test_it_erases_at_once_when_the_administrator_chooses_it(self):
        page = self.post(confirm="Oui", erase="now")
        self.assertContains(page, "les données du membre sont effacées")
        self.assertIsNone(mailserver.user_row(ADDRESS))
        self.assertEqual(Member.objects.get().full_name, "membre effacé")
        self.assertNotContains(self.client.get(LIST_URL), "Pierre Dupont")

    def test_it_explains_a_mailbox_already_deleted(self):
        self.post(confirm="Oui", erase="later")
        page = self.post(confirm="Oui", erase="later")
        self.assertContains(page, "est déjà supprimée")

    def test_it_offers_deletion_to_administrators_only(self):
        gestion, static = make_verified_staff("gaston", group=MANAGERS, domains=[self.domain])
        client = self.client_class()
        login_with_otp(client, gestion, static, "tok00001")
        page = client.get(LIST_URL)
        self.assertContains(page, "Réinitialiser le mot de passe")
        self.assertNotContains(page, "delete_mailboxes")
        self.assertContains(self.client.get(LIST_URL), "delete_mailboxes")
        client.post(LIST_URL, {"action": "delete_mailboxes", "_selected_action": [self.mailbox.pk],
                               "confirm": "Oui", "erase": "now"})  # fmt: skip
        self.mailbox.refresh_from_db()
        self.assertEqual(self.mailbox.status, Mailbox.Status.ACTIVE)

    def test_it_hides_the_new_password_button_of_a_deleted_mailbox(self):
        self.post(confirm="Oui", erase="later")
        page = self.client.get(f"{LIST_URL}{self.mailbox.pk}/change/")
        self.assertNotContains(page, "Renvoyer un nouveau mot de passe par SMS")


class ExportActionTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])
        self.mailbox = deliver(create_pierre()).mailbox

    def test_it_downloads_the_json_from_the_mailbox_list(self):
        response = self.client.post(
            LIST_URL, {"action": "export_member_data", "_selected_action": [self.mailbox.pk]}
        )
        self.assertEqual(response["Content-Type"], "application/json; charset=utf-8")
        self.assertIn("attachment;", response["Content-Disposition"])
        document = json.loads(response.content.decode("utf-8"))
        self.assertEqual(document["membre"]["données"]["email_personnel"], MEMBER["personal_email"])
        record = AuditRecord.objects.get(action=Action.MEMBER_EXPORT)
        self.assertEqual((record.actor, record.target), (self.admin, ADDRESS))

    def test_it_downloads_the_json_from_the_member_list(self):
        response = self.client.post(
            MEMBERS_URL,
            {"action": "export_member_data", "_selected_action": [self.mailbox.member_id]},
        )
        document = json.loads(response.content.decode("utf-8"))
        self.assertEqual(document["adresses"]["données"][0]["adresse"], ADDRESS)

    def test_it_exports_one_member_at_a_time(self):
        other = deliver(create_pierre(local_part="marie", personal_email="m@example.org"))
        response = self.client.post(
            MEMBERS_URL,
            {"action": "export_member_data",
             "_selected_action": [self.mailbox.member_id, other.mailbox.member_id]},
            follow=True,
        )  # fmt: skip
        self.assertContains(response, "Choisissez un seul membre à la fois")
        self.assertFalse(AuditRecord.objects.filter(action=Action.MEMBER_EXPORT).exists())


class DeleteActionWithAliasesTests(OctopusTestCase):
    """An alias still sends to the mailbox: the report names it (it used to answer 500)."""

    def test_it_names_the_aliases_that_still_send_to_it(self):
        admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, admin, static, tokens[0])
        mailbox = deliver(create_pierre()).mailbox
        aliases.alias_save(source=f"bureau@{DOMAIN}", destinations=ADDRESS, actor=TEST_ACTOR)
        data = {"action": "delete_mailboxes", "_selected_action": [mailbox.pk],
                "confirm": "Oui", "erase": "later"}  # fmt: skip
        page = self.client.post(LIST_URL, data, follow=True)
        self.assertContains(page, f"Alias qui mènent encore à {ADDRESS} : bureau@{DOMAIN}")
        self.assertEqual(Mailbox.objects.get().status, Mailbox.Status.DELETED)
