"""Issue #12's holes in creating mailboxes: role addresses, a false "row made by hand"
warning, and formulas in the import report. Each test replays the probe's attack."""

import io

from celery import current_app
from django.core.management import call_command
from django.db import connections
from django.test import TransactionTestCase

from accounts.models import Mailbox
from memberrequests import imports
from memberrequests.models import MemberImport, MemberRequest
from provisioning import mailschemas, mailserver
from provisioning.models import ProvisioningJob

from .base import MEMBER, login_with_otp, make_verified_admin, the_domain
from .memberrequests.helpers import IMPORTS_URL, RequestTestCase

MEMBER_ARGS = ["--name", MEMBER["full_name"], "--phone", MEMBER["phone"],
               "--personal-email", MEMBER["personal_email"]]  # fmt: skip


class RoleAddressTests(RequestTestCase):
    def test_it_refuses_postmaster_on_the_public_page_and_writes_nothing(self):
        for local_part in ["postmaster", "abuse", "Hostmaster", "noreply", "admin"]:
            with self.subTest(local_part=local_part):
                response = self.ask_address(local_part=local_part)
                self.assertContains(response, "réservée à un rôle technique")
        self.assertFalse(MemberRequest.objects.exists())

    def test_it_refuses_a_role_address_in_an_import(self):
        data = "nom;adresse;email personnel;gsm\nRoot Dupont;root;root@example.org;0470123456\n"
        _file, [row] = imports.member_import_check(data=data.encode(), domain=the_domain())
        self.assertEqual(row.status, "error")
        self.assertIn("réservée à un rôle technique", row.reason)

    def test_it_lets_the_administrator_create_one_on_purpose_with_a_warning(self):
        err = io.StringIO()
        call_command("createmailbox", "webmaster@octopus-soignies.be", *MEMBER_ARGS,
                     "--no-wait", stdout=io.StringIO(), stderr=err)  # fmt: skip
        self.assertTrue(Mailbox.objects.filter(local_part="webmaster").exists())
        self.assertIn("adresse de rôle", err.getvalue())

    def test_it_warns_in_the_admin_form_and_creates_it(self):
        admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, admin, static, tokens[0])
        response = self.client.post(
            "/admin/accounts/mailbox/add/",
            {"full_name": MEMBER["full_name"], "local_part": "abuse", "domain": self.domain.pk,
             "personal_email": MEMBER["personal_email"], "phone": MEMBER["phone"]},
            follow=True,
        )  # fmt: skip
        self.assertContains(response, "adresse de rôle")
        self.assertTrue(Mailbox.objects.filter(local_part="abuse").exists())


class ImportReportFormulaTests(RequestTestCase):
    def test_it_never_exports_a_live_formula_to_the_spreadsheet_report(self):
        admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, admin, static, tokens[0])
        rows = [
            '"=HYPERLINK(""http://evil.example"",""clic"")";a1;a1@example.org;+32470000001',
            "+cmd|' /C calc'!A0;a2;a2@example.org;+32470000002",
            "@SUM(1+1)*cmd;a3;a3@example.org;+32470000003",
            "-2+3;a4;a4@example.org;+32470000004",
        ]
        upload = io.BytesIO(("nom;adresse;email personnel;gsm\n" + "\n".join(rows)).encode())
        upload.name = "membres.csv"
        self.client.post(IMPORTS_URL + "add/", {"file": upload, "domain": self.domain.pk})
        response = self.client.get(f"{IMPORTS_URL}{MemberImport.objects.get().pk}/rapport.csv")
        lines = response.content.decode("utf-8").splitlines()[1:]
        names = [line.split(";")[1] for line in lines]
        for name in names:
            with self.subTest(name=name):
                self.assertTrue(name.lstrip('"').startswith("'"), name)
        self.assertIn(";+32470000001;", lines[0])  # a phone number stays as typed


class AdoptedRowWarningTests(TransactionTestCase):
    """`make run` executes tasks eagerly, at the commit: the job writes the row at once."""

    databases = {"default", "mailserver"}
    ADDRESS = "pierre@octopus-soignies.be"

    def setUp(self):
        the_domain()
        mailserver.create_tables(connections[mailserver.ALIAS])
        self.delete_row()  # a test before may have left it (TransactionTestCase skips it)
        self.addCleanup(self.delete_row)
        eager = current_app.conf.task_always_eager
        current_app.conf.task_always_eager = True
        self.addCleanup(setattr, current_app.conf, "task_always_eager", eager)

    def delete_row(self):
        schema = mailschemas.current()
        with connections[mailserver.ALIAS].cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {schema.users_table} WHERE {schema.address_column} = %s",
                [self.ADDRESS],
            )

    def test_it_never_says_the_table_already_held_a_new_address(self):
        err = io.StringIO()
        call_command("createmailbox", self.ADDRESS, *MEMBER_ARGS, "--no-wait",
                     stdout=io.StringIO(), stderr=err)  # fmt: skip
        self.assertEqual(ProvisioningJob.objects.get().state, "done")  # ran at the commit
        self.assertIsNotNone(mailserver.user_row(self.ADDRESS))
        self.assertNotIn("contenait déjà", err.getvalue())
