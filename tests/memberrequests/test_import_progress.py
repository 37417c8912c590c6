"""A confirmed import's progress: the counts `importmembers` and the import's page share
(one aggregate query), the page at load time, and its JSON view (auth, domains, shape)."""

import io
import tempfile
from pathlib import Path
from unittest import mock

from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from accounts.models import Domain, Mailbox
from memberrequests import importprogress, imports
from memberrequests.importprogress import ImportProgress
from memberrequests.models import MemberImport
from provisioning import steps
from provisioning.models import ProvisioningJob
from roles.groups import MANAGERS

from ..base import (
    TEST_ACTOR,
    create_pierre,
    deliver,
    login_with_otp,
    make_staff_without_device,
    make_verified_admin,
    send_email,
)
from ..test_roles import make_verified_staff
from .helpers import IMPORTS_URL, RequestTestCase, members_csv

BAD_PHONE = {6: "Anne Claes 6;membre6;membre6@example.org;0470 12"}


class ProgressTestCase(RequestTestCase):
    def confirmed_import(self, count: int, *, bad=None, domain=None) -> MemberImport:
        member_import = imports.member_import_preview(
            data=members_csv(count, bad=bad).encode(), file_name="membres.csv",
            domain=domain or self.domain,
        )  # fmt: skip
        imports.member_import_confirm(member_import=member_import, actor=TEST_ACTOR)
        return member_import

    def job(self, n: int) -> ProvisioningJob:
        return ProvisioningJob.objects.get(mailbox__local_part=f"membre{n}", kind="create")

    def each_state(self) -> MemberImport:
        """Rows 1–7: delivered with its email, sent, refused (disabled meanwhile),
        undelivered, waiting, an existing address, a bad phone."""
        create_pierre(local_part="membre7", personal_email="autre@example.org")
        member_import = self.confirmed_import(7, bad=BAD_PHONE)
        delivered = deliver(self.job(1))
        steps.sms_status_record(
            message_sid=delivered.sms_message_id, status="delivered", error_code=None
        )
        send_email(delivered)
        deliver(self.job(2))
        Mailbox.objects.filter(local_part="membre3").update(status="disabled")
        deliver(self.job(3))
        undelivered = deliver(self.job(4))
        steps.sms_status_record(
            message_sid=undelivered.sms_message_id, status="undelivered", error_code=30003
        )
        return member_import


# The tests play the worker job by job to reach each mix of states: one job a doorbell.
@override_settings(PROVISIONING_BATCH_SIZE=1)
class ImportProgressTests(ProgressTestCase):
    def test_it_counts_rows_creations_and_each_sms_and_email_state(self):
        member_import = self.each_state()
        progress = importprogress.member_import_progress(member_import=member_import)
        self.assertEqual(
            progress,
            ImportProgress(
                rows=7,
                to_create=0,
                created=5,
                exists=1,
                errors=1,
                sms_waiting=1,
                sms_sent=1,
                sms_delivered=1,
                sms_failed=2,
                emails_sent=1,
                emails_failed=0,
                emails_waiting=2,
                failures=2,
            ),  # fmt: skip
        )
        self.assertEqual((progress.jobs, progress.sms_out), (5, 2))
        self.assertFalse(progress.settled)

    def test_it_lists_each_failure_with_the_member_and_the_reason_in_french(self):
        member_import = self.each_state()
        failures = importprogress.member_import_failures(member_import=member_import)
        self.assertEqual(
            [(f.line, f.member, f.address) for f in failures],
            [(4, "Lucie Dupont 3", "membre3@octopus-soignies.be"),
             (5, "Éric Dupont 4", "membre4@octopus-soignies.be")],
        )  # fmt: skip
        self.assertEqual(
            failures[0].reason,
            "Échec : Adresse désactivée entre-temps : aucun mot de passe envoyé.",
        )
        self.assertTrue(failures[1].reason.startswith("SMS non remis : "), failures[1].reason)
        self.assertIn("(30003)", failures[1].reason)

    def test_it_settles_once_no_sms_receipt_or_email_is_on_its_way(self):
        member_import = self.confirmed_import(2)
        states = []
        for job in (self.job(1), self.job(2)):
            job = deliver(job)
            steps.sms_status_record(
                message_sid=job.sms_message_id, status="delivered", error_code=None
            )
            states.append(importprogress.member_import_progress(member_import=member_import))
            send_email(job)
        states.append(importprogress.member_import_progress(member_import=member_import))
        self.assertEqual([s.jobs_settled for s in states], [False, True, True])
        self.assertEqual([s.settled for s in states], [False, False, True])
        report = importprogress.member_import_report_live(member_import=member_import)
        self.assertEqual(report["summary"], "Terminé : 2 SMS remis, 0 en échec ; 2 emails envoyés.")

    def test_it_lists_the_first_failures_and_says_how_many_more(self):
        member_import = self.confirmed_import(4)
        ProvisioningJob.objects.update(state="failed", last_error="Numéro refusé.")
        with mock.patch.object(importprogress, "FAILURES_SHOWN", 3):
            report = importprogress.member_import_report_live(member_import=member_import)
        self.assertEqual([f["line"] for f in report["failures"]], [2, 3, 4])
        self.assertEqual(report["failures"][0]["text"],
                         "Ligne 2 : Marie Dupont 1 (membre1@octopus-soignies.be) — "
                         "Échec : Numéro refusé.")  # fmt: skip
        self.assertEqual(report["more_failures"], 1)
        self.assertEqual(
            report["more_failures_text"],
            "… et 1 autre(s) : voyez le rapport (CSV) ou la liste des adresses.",
        )

    def test_it_counts_an_import_in_one_query_whatever_its_size(self):
        queries = []
        for count in (10, 100):
            member_import = self.confirmed_import(count)
            # Some of each: the joins must not multiply the rows they count.
            ProvisioningJob.objects.filter(mailbox__local_part__in=["membre1", "membre2"]).update(
                state="failed", last_error="Numéro refusé."
            )
            for job in ProvisioningJob.objects.filter(mailbox__local_part="membre3"):
                deliver(job)
            with CaptureQueriesContext(connection) as counted:
                progress = importprogress.member_import_progress(member_import=member_import)
            self.assertEqual((progress.rows, progress.created, progress.jobs), (count,) * 3)
            self.assertEqual((progress.sms_failed, progress.sms_sent), (2, 1))
            with CaptureQueriesContext(connection) as reported:
                report = importprogress.member_import_report_live(member_import=member_import)
            self.assertEqual(len(report["failures"]), 2)
            queries.append((len(counted), len(reported)))
            ProvisioningJob.objects.all().delete()
            Mailbox.objects.all().delete()
        self.assertEqual(queries, [(1, 2), (1, 2)])


# The tests play the worker job by job to reach each mix of states: one job a doorbell.
@override_settings(PROVISIONING_BATCH_SIZE=1)
class ImportProgressPageTests(ProgressTestCase):
    def setUp(self):
        super().setUp()
        self.admin, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.admin, static, tokens[0])

    def status_url(self, member_import: MemberImport) -> str:
        return f"{IMPORTS_URL}{member_import.pk}/statut/"

    def test_it_shows_the_counts_at_load_time_without_javascript(self):
        member_import = self.each_state()
        response = self.client.get(f"{IMPORTS_URL}{member_import.pk}/change/")
        self.assertContains(response, 'role="status" aria-live="polite"')
        self.assertContains(
            response, "Envoi en cours : 4 SMS sur 5 traités, 1 en attente.", html=False
        )
        for text in ("7 lignes", "5 adresses créées", "1 SMS remis", "2 SMS en échec",
                     "1 SMS en attente", "1 email envoyé", "1 ligne en erreur",
                     "1 SMS envoyé, accusé de réception attendu"):  # fmt: skip
            self.assertContains(response, text)
        self.assertContains(response, "Ligne 4 : Lucie Dupont 3 (membre3@octopus-soignies.be) — ")
        self.assertContains(response, f'data-url="{self.status_url(member_import)}"')
        self.assertContains(response, "memberrequests/import_progress.js")

    def test_it_is_the_one_count_that_the_command_and_the_page_read(self):
        def a_worker_meanwhile(_seconds):
            for job in ProvisioningJob.objects.filter(state="queued"):
                deliver(job)

        counted = mock.patch.object(
            importprogress, "member_import_progress", wraps=importprogress.member_import_progress
        )
        command = "memberrequests.management.commands.importmembers.time.sleep"
        with tempfile.TemporaryDirectory() as tmp, counted as spy:
            path = Path(tmp) / "membres.csv"
            path.write_text(members_csv(3))
            err = io.StringIO()
            with mock.patch(command, side_effect=a_worker_meanwhile):
                call_command("importmembers", str(path), stdout=io.StringIO(), stderr=err)
            by_command = spy.call_count
            member_import = MemberImport.objects.get()
            state = self.client.get(self.status_url(member_import)).json()
        self.assertGreaterEqual(by_command, 2)
        self.assertEqual(spy.call_count, by_command + 1)
        self.assertIn("SMS 3/3 — 3 envoyés, 0 en échec, 0 en attente", err.getvalue())
        self.assertEqual((state["counts"]["sms_sent"], state["counts"]["sms_waiting"]), (3, 0))

    def test_it_shows_no_progress_before_the_confirmation(self):
        member_import = imports.member_import_preview(
            data=members_csv(2).encode(), file_name="membres.csv", domain=self.domain
        )
        response = self.client.get(f"{IMPORTS_URL}{member_import.pk}/change/")
        self.assertContains(response, "Confirmer : créer les 2 adresses")
        self.assertNotContains(response, "import-progress")

    def test_it_answers_the_progress_as_json(self):
        member_import = self.each_state()
        response = self.client.get(self.status_url(member_import))
        self.assertEqual(response["Content-Type"], "application/json")
        state = response.json()
        self.assertEqual(
            set(state),
            {"settled", "summary", "counts", "counters", "bar", "failures", "more_failures",
             "more_failures_text"},
        )  # fmt: skip
        self.assertIs(state["settled"], False)
        self.assertEqual(state["counts"]["sms_failed"], 2)
        self.assertEqual(state["counts"]["jobs"], 5)
        self.assertEqual(
            [c["key"] for c in state["counters"]],
            ["rows", "created", "exists", "errors", "sms_delivered", "sms_sent", "sms_failed",
             "sms_waiting", "emails_sent"],
        )  # fmt: skip
        self.assertEqual(
            state["counters"][6],
            {"key": "sms_failed", "tone": "error", "colour": "#cf222e", "count": 2,
             "text": "2 SMS en échec"},
        )  # fmt: skip
        self.assertEqual([p["percent"] for p in state["bar"]], [20.0, 20.0, 40.0, 20.0])
        self.assertEqual(set(state["failures"][0]), {"line", "member", "address", "reason", "text"})
        self.assertEqual(state["more_failures"], 0)

    def test_it_answers_in_english_when_the_browser_asks(self):
        member_import = self.confirmed_import(1)
        state = self.client.get(self.status_url(member_import), HTTP_ACCEPT_LANGUAGE="en").json()
        self.assertEqual(state["counters"][0]["text"], "1 row")
        self.assertIn("in progress", state["summary"])

    def test_it_answers_in_the_same_number_of_queries_for_10_and_100_rows(self):
        counted = []
        for count in (10, 100):
            member_import = self.confirmed_import(count)
            ProvisioningJob.objects.filter(mailbox__local_part="membre1").update(state="failed")
            with CaptureQueriesContext(connection) as queries:
                self.assertEqual(self.client.get(self.status_url(member_import)).status_code, 200)
            counted.append(len(queries))
            ProvisioningJob.objects.all().delete()
            Mailbox.objects.all().delete()
        self.assertEqual(counted[0], counted[1])

    def test_it_sends_a_visitor_without_a_second_factor_to_the_login_page(self):
        member_import = self.confirmed_import(1)
        self.client.logout()
        response = self.client.get(self.status_url(member_import))
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/admin/login/"))
        self.client.force_login(make_staff_without_device())
        response = self.client.get(self.status_url(member_import))
        self.assertEqual(response.status_code, 302)
        self.assertNotIn(b"sms_", response.content)

    def test_it_answers_404_to_a_gestionnaire_for_another_domains_import(self):
        other = Domain.objects.create(
            name="autre-asso.be", imap_host="autre-asso.be", smtp_host="autre-asso.be"
        )
        own = self.confirmed_import(1)
        theirs = self.confirmed_import(1, domain=other)
        user, static = make_verified_staff("gaston", group=MANAGERS, domains=[self.domain])
        client = self.client_class()
        login_with_otp(client, user, static, "tok00001")
        self.assertEqual(client.get(self.status_url(own)).status_code, 200)
        response = client.get(self.status_url(theirs))
        self.assertEqual(response.status_code, 404)
        self.assertNotIn(b"membre1", response.content)
        self.assertEqual(client.get(f"{IMPORTS_URL}{theirs.pk}/change/").status_code, 404)
