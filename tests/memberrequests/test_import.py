"""Bulk import: reading spreadsheets' CSV, the preview, the confirmation, the command."""

import codecs
import io
import tempfile
from pathlib import Path
from unittest import mock

from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import SimpleTestCase
from django.test.utils import CaptureQueriesContext

from accounts.models import Alias, Mailbox, Member
from audit.models import Action, AuditRecord, Outcome
from memberrequests import csvfile, imports
from memberrequests.models import MemberImport, MemberImportRow
from memberrequests.progress import Progress
from provisioning.models import ProvisioningJob

from ..base import create_pierre, deliver, login_with_otp, make_verified_admin
from .helpers import HEADER, IMPORTS_URL, RequestTestCase, members_csv

RowStatus = MemberImportRow.Status
COMMAND = "memberrequests.management.commands.importmembers"
# The three bad rows of the 50-member file, and the start of the reason each one gets.
BAD_ROWS = {
    7: "Zoé Maes;zoe maes;zoe@example.org;+32470000007",
    23: "Luc Wouters;luc;luc-at-example.org;+32470000023",
    41: "Inès Dubois;ines;ines@example.org;0470 12",
}
BAD_REASONS = {
    7: "adresse : « zoe maes » n'est pas accepté",
    23: "email personnel : « luc-at-example.org » n'est pas une adresse email valide.",
    41: "gsm : ",
}


def rows_of(text: str, **kwargs) -> list[dict]:
    return csvfile.read_members_csv(text.encode(**kwargs)).rows.dict


class CsvFileTests(SimpleTestCase):
    def test_it_reads_utf8_with_a_bom_and_semicolons(self):
        data = (
            codecs.BOM_UTF8 + (HEADER + "\nMarie-Ève Lambert;marie;m@example.org;0470\n").encode()
        )
        members_file = csvfile.read_members_csv(data)
        self.assertEqual((members_file.encoding, members_file.delimiter), ("UTF-8", ";"))
        self.assertEqual(members_file.rows.dict[0]["full_name"], "Marie-Ève Lambert")

    def test_it_reads_windows_1252_and_commas(self):
        text = "Nom,Adresse,E-mail personnel,Téléphone\nZoé Maes,zoe,z@example.org,0470\n"
        members_file = csvfile.read_members_csv(text.encode("cp1252"))
        self.assertEqual((members_file.encoding, members_file.delimiter), ("Windows-1252", ","))
        self.assertEqual(members_file.rows.dict[0]["full_name"], "Zoé Maes")
        self.assertEqual(members_file.rows.dict[0]["problem"], "")

    def test_it_takes_the_columns_in_any_order_and_ignores_others(self):
        text = "GSM;Remarque;E-mail;Nom complet;Adresse souhaitée\n0470;trésorier;e@x.org;Eva;eva\n"
        members_file = csvfile.read_members_csv(text.encode())
        row = members_file.rows.dict[0]
        self.assertEqual(
            [row["full_name"], row["local_part"], row["phone"]], ["Eva", "eva", "0470"]
        )
        self.assertEqual(members_file.ignored_columns, ["Remarque"])

    def test_it_names_the_missing_columns(self):
        with self.assertRaises(ValidationError) as caught:
            csvfile.read_members_csv(b"nom;adresse\nPierre;pierre\n")
        self.assertIn(
            "Colonnes manquantes : « email personnel », « gsm ».", caught.exception.messages[0]
        )

    def test_it_refuses_a_file_without_members(self):
        for data in [b"", b"\n\n", HEADER.encode() + b"\n;;;\n"]:
            with self.subTest(data=data), self.assertRaises(ValidationError) as caught:
                csvfile.read_members_csv(data)
            self.assertIn("aucun membre", caught.exception.messages[0])

    def test_it_refuses_a_row_with_the_wrong_number_of_fields_and_reads_the_next(self):
        text = "\n".join(
            [
                HEADER,
                "Pierre;pierre;p@x.org",
                "Dupont, Marie;marie;m@x.org;0470;x",
                "Eva;e;e@x.org;0470\n",
            ]
        )
        rows = rows_of(text)
        self.assertEqual([r["line"] for r in rows], [2, 3, 4])
        self.assertIn("La ligne compte 3 champs au lieu de 4", rows[0]["problem"])
        self.assertIn("La ligne compte 5 champs au lieu de 4", rows[1]["problem"])
        self.assertEqual(rows[2]["problem"], "")

    def test_it_accepts_the_empty_cells_spreadsheets_add_at_the_end(self):
        rows = rows_of(HEADER + "\nEva;eva;e@x.org;0470;;\n")
        self.assertEqual(rows[0]["problem"], "")

    def test_it_keeps_a_quoted_separator_and_counts_lines_across_a_quoted_newline(self):
        lines = [
            '"Dupont; Pierre";pierre;p@x.org;0470',
            '"Eva\nLuna";eva;e@x.org;0470',
            "Luc;l;l@x;0",
        ]
        rows = rows_of("\n".join([HEADER, *lines]) + "\n")
        self.assertEqual(rows[0]["full_name"], "Dupont; Pierre")
        self.assertEqual([r["line"] for r in rows], [2, 3, 5])

    def test_it_refuses_only_the_row_with_undecodable_bytes(self):
        data = (
            HEADER + "\nMarie-Ève;marie;m@x.org;0470\n"
        ).encode() + b"Zo\xe9;zoe;z@x.org;0470\nEva;eva;e@x.org;0470\n"
        members_file = csvfile.read_members_csv(data)
        self.assertEqual(members_file.encoding, "UTF-8")
        problems = [r["problem"] for r in members_file.rows.dict]
        self.assertEqual(problems[0], "")
        self.assertIn("caractères illisibles", problems[1])
        self.assertEqual(problems[2], "")

    def test_it_refuses_a_nul_byte_in_a_row(self):
        rows = csvfile.read_members_csv(
            (HEADER + "\nEva;e\x00va;e@x.org;0470\n").encode()
        ).rows.dict
        self.assertIn("caractères illisibles", rows[0]["problem"])


class ImportCheckTests(RequestTestCase):
    def check(self, text: str) -> list[MemberImportRow]:
        _file, rows = imports.member_import_check(data=text.encode(), domain=self.domain)
        return rows

    def test_it_finds_47_members_to_create_and_3_errors_with_their_reasons(self):
        rows = self.check(members_csv(50, bad=BAD_ROWS))
        self.assertEqual(len(rows), 50)
        errors = {row.line - 1: row.reason for row in rows if row.status == RowStatus.ERROR}
        self.assertEqual(sorted(errors), [7, 23, 41])
        for n, reason in BAD_REASONS.items():
            self.assertTrue(errors[n].startswith(reason), errors[n])
        self.assertEqual(sum(row.status == RowStatus.CREATE for row in rows), 47)
        self.assertFalse(Mailbox.objects.exists())

    def test_it_reports_an_address_that_already_exists(self):
        create_pierre()
        rows = self.check(HEADER + "\nPierre Dupont;Pierre;p2@example.org;0470 98 76 54\n")
        self.assertEqual(rows[0].status, RowStatus.EXISTS)
        self.assertEqual(rows[0].reason, "L'adresse pierre@octopus-soignies.be existe déjà.")

    def test_it_refuses_an_address_that_is_an_alias(self):
        Alias.objects.create(domain=self.domain, local_part="bureau")
        rows = self.check(HEADER + "\nBureau Dupont;Bureau;b@example.org;0470 98 76 54\n")
        self.assertEqual(rows[0].status, RowStatus.ERROR)
        self.assertIn("existe déjà (c'est un alias)", rows[0].reason)

    def test_it_checks_a_file_in_a_constant_number_of_queries(self):
        with CaptureQueriesContext(connection) as ten:
            self.check(members_csv(10))
        with CaptureQueriesContext(connection) as hundred:
            self.check(members_csv(100))
        self.assertEqual(len(hundred), len(ten))

    def test_it_refuses_every_row_of_an_address_written_twice_in_the_file(self):
        text = members_csv(3) + "Jean Dupont;membre2;jean@example.org;+32470999999\n"
        rows = self.check(text)
        self.assertEqual([r.status for r in rows], ["create", "error", "create", "error"])
        self.assertIn("adresse en double dans le fichier (aussi ligne 5)", rows[1].reason)
        self.assertIn("(aussi ligne 3)", rows[3].reason)

    def test_it_suggests_an_address_from_the_name_and_accepts_full_addresses(self):
        rows = self.check(HEADER + "\nMarie-Ève Lambert;;m@example.org;0470 11 22 33\n"
                          "Eva Luna;eva@octopus-soignies.be;e@example.org;0470 11 22 34\n"
                          "Luc;luc@ailleurs.be;l@example.org;0470 11 22 35\n")  # fmt: skip
        self.assertEqual(
            (rows[0].address, rows[0].suggested), ("marie-eve.lambert@octopus-soignies.be", True)
        )
        self.assertEqual((rows[1].address, rows[1].status), ("eva@octopus-soignies.be", "create"))
        self.assertIn("Le domaine « ailleurs.be » n'est pas géré ici", rows[2].reason)


class ImportAdminTests(RequestTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])

    def upload(self, text: str | bytes, name="membres.csv"):
        data = text.encode() if isinstance(text, str) else text
        upload = io.BytesIO(data)
        upload.name = name
        return self.client.post(
            IMPORTS_URL + "add/", {"file": upload, "domain": self.domain.pk}, follow=True
        )

    def test_it_previews_every_row_and_creates_nothing_before_the_confirmation(self):
        response = self.upload(members_csv(50, bad=BAD_ROWS))
        self.assertContains(response, "Confirmer : créer les 47 adresses")
        self.assertContains(response, "Erreur (3)")
        self.assertContains(response, "membre1@octopus-soignies.be")
        self.assertContains(
            response, "« luc-at-example.org » n&#x27;est pas une adresse email valide."
        )
        self.assertEqual(MemberImportRow.objects.count(), 50)
        self.assertContains(
            self.client.get(IMPORTS_URL), "47 à créer · 0 créées · 0 existent déjà · 3 en erreur"
        )
        self.assertFalse(Member.objects.exists())
        self.assertFalse(ProvisioningJob.objects.exists())

    def test_it_creates_the_47_valid_rows_each_with_its_own_job_once_confirmed(self):
        self.upload(members_csv(50, bad=BAD_ROWS))
        member_import = MemberImport.objects.get()
        response = self.client.post(f"{IMPORTS_URL}{member_import.pk}/confirmer/", follow=True)
        self.assertContains(response, "47 adresses créées, chacune avec son envoi de mot de passe")
        self.assertContains(response, "3 lignes en erreur")
        self.assertEqual(Mailbox.objects.count(), 47)
        self.assertEqual(ProvisioningJob.objects.filter(kind="create").count(), 47)
        self.assertEqual(
            set(ProvisioningJob.objects.values_list("requested_by", flat=True)), {self.admin.pk}
        )
        errors = member_import.rows.filter(status=RowStatus.ERROR).values_list("line", flat=True)
        self.assertEqual(sorted(errors), [8, 24, 42])

    def test_it_records_the_confirmation_and_each_creation_with_the_actor(self):
        self.upload(members_csv(3, bad={2: "Anne Claes;membre2;membre2@example.org;0470 12"}))
        member_import = MemberImport.objects.get()
        self.client.post(f"{IMPORTS_URL}{member_import.pk}/confirmer/", REMOTE_ADDR="192.0.2.7")
        [confirmed] = AuditRecord.objects.filter(action=Action.IMPORT_CONFIRM)
        self.assertEqual(
            (confirmed.actor, confirmed.actor_label, confirmed.ip, confirmed.outcome),
            (self.admin, "claire", "192.0.2.7", Outcome.SUCCESS),
        )
        self.assertIn(f"import n°{member_import.pk}", confirmed.target)
        created = AuditRecord.objects.filter(action=Action.MAILBOX_CREATE).order_by("target")
        self.assertEqual(
            [(r.target, r.actor, r.outcome) for r in created],
            [(f"membre{i}@octopus-soignies.be", self.admin, Outcome.SUCCESS) for i in (1, 3)],
        )
        self.assertIn(f"import n°{member_import.pk}, ligne", created[0].detail)

    def test_it_checks_every_row_again_at_confirmation(self):
        self.upload(members_csv(3))
        member_import = MemberImport.objects.get()
        create_pierre(local_part="membre2", personal_email="other@example.org")
        self.client.post(f"{IMPORTS_URL}{member_import.pk}/confirmer/")
        statuses = list(member_import.rows.order_by("line").values_list("status", flat=True))
        self.assertEqual(statuses, ["created", "exists", "created"])
        self.assertEqual(Mailbox.objects.count(), 3)

    def test_it_confirms_an_import_only_once(self):
        self.upload(members_csv(3))
        url = f"{IMPORTS_URL}{MemberImport.objects.get().pk}/confirmer/"
        self.client.post(url)
        response = self.client.post(url, follow=True)
        self.assertContains(response, "Cet import a déjà été confirmé")
        self.assertEqual(ProvisioningJob.objects.count(), 3)

    def test_it_confirms_nothing_on_a_get(self):
        self.upload(members_csv(3))
        response = self.client.get(f"{IMPORTS_URL}{MemberImport.objects.get().pk}/confirmer/")
        self.assertEqual(response.status_code, 405)
        self.assertFalse(Mailbox.objects.exists())

    def test_it_refuses_an_empty_upload_form(self):
        response = self.client.post(IMPORTS_URL + "add/", {})
        self.assertContains(response, "Ce champ est obligatoire.", count=2)
        self.assertFalse(MemberImport.objects.exists())

    def test_it_reads_a_spreadsheets_utf8_file_with_a_bom(self):
        response = self.upload(codecs.BOM_UTF8 + members_csv(2).encode())
        self.assertContains(response, "Fichier lu en UTF-8, séparateur « ; »")
        self.assertContains(response, "Confirmer : créer les 2 adresses")

    def test_it_reads_excels_unicode_text_utf16_with_tabs(self):
        text = members_csv(2).replace(";", "\t")
        response = self.upload(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
        self.assertContains(response, "Fichier lu en UTF-16")
        self.assertContains(response, "Confirmer : créer les 2 adresses")

    def test_it_names_the_missing_columns_on_the_upload_page(self):
        response = self.upload("nom;email\nPierre;p@example.org\n")
        self.assertContains(response, "Colonnes manquantes : « adresse », « gsm ».")
        self.assertFalse(MemberImport.objects.exists())

    def test_it_escapes_html_and_script_from_the_file(self):
        script = "<script>alert(1)</script>"
        response = self.upload(HEADER + f"\n{script};{script};{script};{script}\n")
        content = response.content.decode()
        self.assertNotIn(script, content)
        self.assertIn("&lt;script&gt;", content)

    def test_it_pages_a_preview_of_10000_rows(self):
        response = self.upload(members_csv(10_000))
        self.assertContains(response, "page 1 sur 50")
        self.assertContains(response, "Confirmer : créer les 10000 adresses")
        member_import = MemberImport.objects.get()
        response = self.client.get(f"{IMPORTS_URL}{member_import.pk}/change/?page=50")
        self.assertContains(response, "membre10000@octopus-soignies.be")
        self.assertFalse(Mailbox.objects.exists())

    def test_it_offers_the_report_as_csv_for_a_spreadsheet(self):
        self.upload(members_csv(3, bad={2: "Jean;jean;jean;0470"}))
        response = self.client.get(f"{IMPORTS_URL}{MemberImport.objects.get().pk}/rapport.csv")
        text = response.content.decode("utf-8")
        self.assertTrue(
            text.startswith("\ufeffligne;nom;adresse;email personnel;gsm;statut;raison")
        )
        self.assertIn("3;Jean;jean@octopus-soignies.be;jean;0470;erreur;", text)


class ImportCommandTests(RequestTestCase):
    def run_command(self, text: str, *args) -> tuple[str, str]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "membres.csv"
            path.write_bytes(text.encode("cp1252"))
            out, err = io.StringIO(), io.StringIO()
            call_command("importmembers", str(path), *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_it_prints_every_row_and_creates_nothing_on_a_dry_run(self):
        out, _err = self.run_command(members_csv(3), "--dry-run")
        self.assertIn("ligne 2 : à créer — membre1@octopus-soignies.be", out)
        self.assertIn("3 lignes : 3 à créer, 0 existent déjà, 0 en erreur. (--dry-run", out)
        self.assertFalse(MemberImport.objects.exists())
        self.assertFalse(Mailbox.objects.exists())

    def test_it_creates_the_valid_rows_and_exits_non_zero_on_errors(self):
        with self.assertRaises(CommandError) as caught:
            self.run_command(members_csv(50, bad=BAD_ROWS), "--no-wait")
        self.assertIn(
            "50 lignes : 47 adresses créées, 0 existent déjà, 3 en erreur.", str(caught.exception)
        )
        self.assertEqual(Mailbox.objects.count(), 47)
        self.assertEqual(ProvisioningJob.objects.count(), 47)

    def test_it_follows_the_sms_until_they_settle(self):
        def a_worker_meanwhile(_seconds):
            for job in ProvisioningJob.objects.filter(state="queued"):
                deliver(job)

        with mock.patch(f"{COMMAND}.time.sleep", side_effect=a_worker_meanwhile):
            out, err = self.run_command(members_csv(3))
        self.assertIn("Lignes vérifiées 3/3\n", err)
        self.assertIn("SMS 0/3 — 0 envoyés, 0 en échec, 3 en attente\n", err)
        self.assertIn("SMS 3/3 — 3 envoyés, 0 en échec, 0 en attente\n", err)
        self.assertIn("3 lignes : 3 adresses créées", out)

    def test_it_says_when_the_sms_do_not_settle_in_time(self):
        with self.assertRaises(CommandError) as caught:
            self.run_command(members_csv(2), "--timeout", "0")
        self.assertEqual(caught.exception.returncode, 2)
        self.assertIn("2 envoi(s) encore en attente après 0 s", str(caught.exception))
        self.assertEqual(Mailbox.objects.count(), 2)

    def test_it_redraws_one_bar_on_a_terminal(self):
        written = []
        progress = Progress(written.append, terminal=True)
        for done in (0, 5, 10):
            progress.show("SMS", done, 10, f"{done} envoyés")
        self.assertEqual(written[1], "\rSMS [###############---------------] 5/10 — 5 envoyés")
        self.assertTrue(written[2].endswith("10/10 — 10 envoyés\n"))
        self.assertFalse(any(text.endswith("\n") for text in written[:2]))

    def test_it_creates_nothing_from_a_file_without_the_columns(self):
        with self.assertRaisesMessage(
            CommandError, "Rien n'a été créé : Colonnes manquantes : « gsm »."
        ):
            self.run_command("nom;adresse;email\nPierre;pierre;p@example.org\n")
        self.assertFalse(MemberImport.objects.exists())

    def test_it_says_when_the_file_cannot_be_read(self):
        with self.assertRaisesMessage(CommandError, "Impossible de lire /nulle-part.csv"):
            call_command("importmembers", "/nulle-part.csv", "--dry-run")

    def test_it_refuses_an_unknown_domain(self):
        with self.assertRaisesMessage(
            CommandError, "Le domaine « ailleurs.be » n'est pas géré ici"
        ):
            self.run_command(members_csv(1), "--domain", "ailleurs.be")
