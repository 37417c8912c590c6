"""Retention (invariant 7): purgedata and its daily task erase each kind of data exactly at
its delay, never a day before; a dry run only counts; the purge records counts only."""

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from unittest import mock

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import SimpleTestCase, override_settings

from accounts.models import Mailbox, Member
from audit.models import Action, AuditRecord, Outcome
from memberrequests.models import MemberImport, MemberImportRow, MemberRequest
from provisioning import deletion, mailserver, retention, tasks
from provisioning.exceptions import TransientError
from provisioning.models import EmailStatus, JobState, ProvisioningJob, SmsStatusEvent

from ..base import DOMAIN, MEMBER, TEST_ACTOR, OctopusTestCase, create_pierre, deliver

# The frozen clock: the purge runs at NOW, things were written `days` before it.
NOW = datetime(2026, 6, 1, 3, 41, tzinfo=UTC)
Status = MemberRequest.Status
ERROR_WITH_A_PHONE = f"Twilio refuse le numéro {MEMBER['phone']} (21211)."


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def frozen_clock():
    return mock.patch("django.utils.timezone.now", return_value=NOW)


class RetentionTestCase(OctopusTestCase):
    def request(self, status: str, *, created: float, decided: float | None = None):
        member_request = MemberRequest.objects.create(
            kind=MemberRequest.Kind.PASSWORD, status=status, asked_address=f"x{status}@{DOMAIN}"
        )
        fields = {"created_at": ago(created)}
        if decided is not None:
            fields["decided_at"] = ago(decided)
        MemberRequest.objects.filter(pk=member_request.pk).update(**fields)
        return member_request

    def purge(self, **kwargs) -> dict:
        return retention.data_purge(now=NOW, actor=TEST_ACTOR, **kwargs)

    def assertKept(self, model, pk):
        self.assertTrue(model.objects.filter(pk=pk).exists(), f"{model.__name__} {pk} erased")

    def assertGone(self, model, pk):
        self.assertFalse(model.objects.filter(pk=pk).exists(), f"{model.__name__} {pk} kept")


class RequestRetentionTests(RetentionTestCase):
    def test_it_deletes_requests_never_confirmed_after_7_days_not_a_day_before(self):
        due = [self.request(s, created=7) for s in (Status.UNCONFIRMED, Status.RECEIVED,
                                                    Status.SUPERSEDED)]  # fmt: skip
        early = self.request(Status.UNCONFIRMED, created=6)
        self.assertEqual(self.purge()["unconfirmed_requests"], 3)
        for member_request in due:
            self.assertGone(MemberRequest, member_request.pk)
        self.assertKept(MemberRequest, early.pk)

    def test_it_deletes_handled_requests_90_days_after_the_decision(self):
        approved = self.request(Status.APPROVED, created=120, decided=90)
        refused = self.request(Status.REFUSED, created=120, decided=89)
        self.assertEqual(self.purge()["handled_requests"], 1)
        self.assertGone(MemberRequest, approved.pk)
        self.assertKept(MemberRequest, refused.pk)

    def test_it_keeps_a_pending_request_whatever_its_age(self):
        pending = self.request(Status.PENDING, created=400)
        counts = self.purge()
        self.assertEqual((counts["unconfirmed_requests"], counts["handled_requests"]), (0, 0))
        self.assertKept(MemberRequest, pending.pk)

    @override_settings(RETENTION_UNCONFIRMED_REQUESTS_DAYS=2, RETENTION_HANDLED_REQUESTS_DAYS=30)
    def test_it_takes_each_delay_from_its_setting(self):
        unconfirmed = self.request(Status.UNCONFIRMED, created=2)
        handled = self.request(Status.REFUSED, created=40, decided=30)
        kept = self.request(Status.REFUSED, created=40, decided=29)
        self.purge()
        self.assertGone(MemberRequest, unconfirmed.pk)
        self.assertGone(MemberRequest, handled.pk)
        self.assertKept(MemberRequest, kept.pk)


class ImportRetentionTests(RetentionTestCase):
    def an_import(self, status: str, *, created: float) -> MemberImportRow:
        member_import = MemberImport.objects.create(
            file_name="membres.csv", domain=self.domain, encoding="utf-8", delimiter=";",
            status=status,
        )  # fmt: skip
        MemberImport.objects.filter(pk=member_import.pk).update(created_at=ago(created))
        return MemberImportRow.objects.create(
            member_import=member_import, line=2, full_name=MEMBER["full_name"],
            local_part="pierre", domain=self.domain, personal_email=MEMBER["personal_email"],
            phone=MEMBER["phone"], status=MemberImportRow.Status.ERROR,
            reason=f"« {MEMBER['personal_email']} » n'est pas valide",
        )  # fmt: skip

    def test_it_blanks_what_a_confirmed_import_line_held_after_90_days(self):
        due = self.an_import(MemberImport.Status.CONFIRMED, created=90)
        early = self.an_import(MemberImport.Status.CONFIRMED, created=89)
        self.assertEqual(self.purge()["import_rows"], 1)
        due.refresh_from_db()
        self.assertEqual(
            (due.full_name, due.personal_email, due.phone, due.reason), ("", "", "", "")
        )
        self.assertEqual((due.line, due.local_part, due.status), (2, "pierre", "error"))
        early.refresh_from_db()
        self.assertEqual(early.full_name, MEMBER["full_name"])
        self.assertEqual(self.purge()["import_rows"], 0)  # nothing left to erase

    def test_it_deletes_an_import_never_confirmed_after_90_days(self):
        due = self.an_import(MemberImport.Status.PREVIEWED, created=90)
        early = self.an_import(MemberImport.Status.PREVIEWED, created=89)
        self.assertEqual(self.purge()["import_rows"], 1)
        self.assertGone(MemberImport, due.member_import_id)
        self.assertKept(MemberImport, early.member_import_id)
        self.assertKept(MemberImportRow, early.pk)


class LogRetentionTests(RetentionTestCase):
    def test_it_deletes_login_traces_after_90_days_not_a_day_before(self):
        common = {"user_agent": "test", "ip_address": "192.0.2.1", "http_accept": "*/*",
                  "path_info": "/admin/login/"}  # fmt: skip
        made = {}
        for days in (90, 89):
            rows = [
                AccessAttempt.objects.create(username=f"u{days}", failures_since_start=1, **common),
                AccessFailureLog.objects.create(username=f"u{days}", **common),
                AccessLog.objects.create(username=f"u{days}", **common),
            ]
            for row in rows:
                type(row).objects.filter(pk=row.pk).update(attempt_time=ago(days))
            made[days] = rows
        self.assertEqual(self.purge()["access_logs"], 3)
        for row in made[90]:
            self.assertGone(type(row), row.pk)
        for row in made[89]:
            self.assertKept(type(row), row.pk)

    def test_it_deletes_sms_statuses_after_90_days(self):
        due = SmsStatusEvent.objects.create(message_sid="SM1", status="delivered")
        early = SmsStatusEvent.objects.create(message_sid="SM2", status="delivered")
        SmsStatusEvent.objects.filter(pk=due.pk).update(received_at=ago(90))
        SmsStatusEvent.objects.filter(pk=early.pk).update(received_at=ago(89))
        self.assertEqual(self.purge()["sms_events"], 1)
        self.assertGone(SmsStatusEvent, due.pk)
        self.assertKept(SmsStatusEvent, early.pk)


class JobErrorRetentionTests(RetentionTestCase):
    def setUp(self):
        super().setUp()
        self.mailbox = deliver(create_pierre()).mailbox

    def job(self, *, finished: float, state=JobState.FAILED, email=EmailStatus.WAITING):
        job = ProvisioningJob.objects.create(
            mailbox=self.mailbox, kind=ProvisioningJob.Kind.RESET, state=state,
            email_status=email, last_error=ERROR_WITH_A_PHONE,
        )  # fmt: skip
        ProvisioningJob.objects.filter(pk=job.pk).update(
            finished_at=ago(finished), updated_at=ago(finished)
        )
        return job

    def test_it_blanks_a_finished_jobs_error_after_90_days_and_keeps_the_job(self):
        due = self.job(finished=90)
        early = self.job(finished=89)
        emailing = self.job(finished=120, state=JobState.DONE, email=EmailStatus.QUEUED)
        self.assertEqual(self.purge()["job_errors"], 1)
        for job in (due, early, emailing):
            job.refresh_from_db()
        self.assertEqual((due.last_error, due.state), ("", JobState.FAILED))
        self.assertEqual(due.updated_at, ago(90))  # the job's history is unchanged
        self.assertEqual(early.last_error, ERROR_WITH_A_PHONE)
        self.assertEqual(emailing.last_error, ERROR_WITH_A_PHONE)  # its email is on its way


class ErasureRetentionTests(RetentionTestCase):
    def test_it_erases_deleted_mailboxes_past_member_retention_days(self):
        mailbox = deliver(create_pierre()).mailbox
        deletion.mailbox_delete(mailbox=mailbox, actor=TEST_ACTOR)
        Mailbox.objects.filter(pk=mailbox.pk).update(deleted_at=ago(31))
        with override_settings(MEMBER_RETENTION_DAYS=32):
            self.assertEqual(self.purge()["erased_mailboxes"], 0)
        self.assertEqual(self.purge()["erased_mailboxes"], 1)
        self.assertEqual(Member.objects.get().full_name, "membre effacé")
        self.assertIsNone(mailserver.user_row(mailbox.address))

    def test_it_reports_an_erasure_left_for_the_next_run(self):
        mailbox = deliver(create_pierre()).mailbox
        deletion.mailbox_delete(mailbox=mailbox, actor=TEST_ACTOR)
        Mailbox.objects.filter(pk=mailbox.pk).update(deleted_at=ago(30))
        away = TransientError("La base du serveur mail ne répond pas.")
        with mock.patch.object(mailserver, "user_delete", side_effect=away):
            counts = self.purge()
        self.assertEqual((counts["erased_mailboxes"], counts["erasures_failed"]), (0, 1))
        self.assertEqual(self.purge()["erased_mailboxes"], 1)


class PurgeTests(RetentionTestCase):
    def setUp(self):
        super().setUp()
        self.unconfirmed = self.request(Status.UNCONFIRMED, created=7)
        self.event = SmsStatusEvent.objects.create(message_sid="SM1", status="delivered")
        SmsStatusEvent.objects.filter(pk=self.event.pk).update(received_at=ago(90))

    def test_it_only_counts_in_a_dry_run_and_writes_nothing(self):
        counts = self.purge(dry_run=True)
        self.assertEqual((counts["unconfirmed_requests"], counts["sms_events"]), (1, 1))
        self.assertKept(MemberRequest, self.unconfirmed.pk)
        self.assertKept(SmsStatusEvent, self.event.pk)
        self.assertFalse(AuditRecord.objects.filter(action=Action.DATA_PURGE).exists())
        self.assertEqual(self.purge(), counts)  # what the dry run announced

    def test_it_records_the_purge_with_counts_only(self):
        row = ImportRetentionTests.an_import(self, MemberImport.Status.CONFIRMED, created=90)
        self.purge()
        record = AuditRecord.objects.get(action=Action.DATA_PURGE)
        self.assertEqual((record.actor_label, record.outcome), ("tests", Outcome.SUCCESS))
        self.assertIn("demandes jamais confirmées : 1", record.detail)
        self.assertIn("statuts de SMS reçus : 1", record.detail)
        self.assertIn("lignes d'import (nom, email, GSM) : 1", record.detail)
        for personal in (MEMBER["full_name"], MEMBER["phone"], MEMBER["personal_email"]):
            self.assertNotIn(personal, record.detail + record.target)
        self.assertGone(MemberRequest, self.unconfirmed.pk)
        row.refresh_from_db()
        self.assertEqual(row.full_name, "")

    def test_it_prints_one_french_line_per_category_and_writes_nothing_in_a_dry_run(self):
        out = io.StringIO()
        with frozen_clock():
            call_command("purgedata", "--dry-run", stdout=out)
        lines = out.getvalue().splitlines()
        self.assertEqual(lines[0], "Simulation (--dry-run) : rien n'est effacé. À effacer :")
        self.assertIn("  Demandes jamais confirmées (après 7 jours) : 1", lines)
        self.assertIn("  Statuts de SMS reçus (après 90 jours) : 1", lines)
        self.assertIn("  Adresses supprimées dont les données sont effacées (après 30 jours) : 0",
                      lines)  # fmt: skip
        self.assertEqual(len(lines), 1 + 1 + len(retention.CATEGORIES))
        self.assertKept(MemberRequest, self.unconfirmed.pk)
        self.assertFalse(AuditRecord.objects.filter(action=Action.DATA_PURGE).exists())

    def test_it_purges_from_the_command_with_the_clock(self):
        out = io.StringIO()
        with frozen_clock():
            call_command("purgedata", stdout=out)
        self.assertIn("Effacé :", out.getvalue())
        self.assertIn("Demandes jamais confirmées (après 7 jours) : 1", out.getvalue())
        self.assertGone(MemberRequest, self.unconfirmed.pk)
        record = AuditRecord.objects.get(action=Action.DATA_PURGE)
        self.assertTrue(record.actor_label.startswith("système (commande purgedata"))

    def test_it_exits_2_when_an_erasure_is_left_for_the_next_run(self):
        mailbox = deliver(create_pierre()).mailbox
        deletion.mailbox_delete(mailbox=mailbox, actor=TEST_ACTOR)
        Mailbox.objects.filter(pk=mailbox.pk).update(deleted_at=ago(30))
        away = TransientError("La base du serveur mail ne répond pas.")
        with frozen_clock(), mock.patch.object(mailserver, "user_delete", side_effect=away):
            with self.assertRaisesMessage(CommandError, "pas encore effacée") as caught:
                call_command("purgedata", stdout=io.StringIO())
        self.assertEqual(caught.exception.returncode, 2)
        self.assertGone(MemberRequest, self.unconfirmed.pk)  # the rest was purged

    def test_it_runs_daily_from_beat_as_the_system(self):
        scheduled = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
        self.assertIn("provisioning.purge_data", scheduled)
        self.assertTrue(tasks.purge_data.ignore_result)
        with frozen_clock():
            tasks.purge_data()
        self.assertGone(MemberRequest, self.unconfirmed.pk)
        record = AuditRecord.objects.get(action=Action.DATA_PURGE)
        self.assertEqual(record.actor_label, "système (purge quotidienne)")


class RetentionSettingsTests(SimpleTestCase):
    def test_it_refuses_to_start_with_a_delay_under_one_day(self):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "octopus_mail.settings",
               "DJANGO_DEBUG": "true", "RETENTION_UNCONFIRMED_REQUESTS_DAYS": "0"}  # fmt: skip
        result = subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("RETENTION_UNCONFIRMED_REQUESTS_DAYS must be 1 or more days", result.stderr)
