"""Mailbox.last_job: the newest delivery, kept by every path that creates a job, filled by
its migration for the mailboxes already there."""

import importlib

from django.apps import apps
from django.core.exceptions import ValidationError

from accounts.models import Mailbox
from memberrequests import imports
from memberrequests.models import MemberImport, MemberRequest
from provisioning import services
from provisioning.models import ProvisioningJob

from ..api.helpers import ApiTestCase
from ..base import TEST_ACTOR, OctopusTestCase, create_pierre, deliver
from ..memberrequests.helpers import members_csv
from ..memberrequests.test_queue import QueueTestCase

fill_last_job = importlib.import_module("accounts.migrations.0008_mailbox_last_job").fill_last_job


class LastJobAssertions:
    def assertLastJobsAreTheNewest(self, expected_count: int):
        """Each mailbox points to its newest job, read from the database."""
        mailboxes = Mailbox.objects.all()
        self.assertEqual(len(mailboxes), expected_count)
        for mailbox in mailboxes:
            newest = mailbox.jobs.order_by("-created_at", "-pk").first()
            self.assertIsNotNone(newest)
            self.assertEqual(mailbox.last_job_id, newest.pk, mailbox.address)


class LastJobTests(LastJobAssertions, OctopusTestCase):
    def test_it_points_a_new_mailbox_to_its_creation_job(self):
        job = create_pierre()
        self.assertEqual(job.mailbox.last_job, job)  # the caller's instance too
        self.assertEqual(Mailbox.objects.get().last_job_id, job.pk)

    def test_it_moves_to_a_reset_and_stays_on_it_when_a_second_click_joins(self):
        first = deliver(create_pierre())
        mailbox = Mailbox.objects.get()
        reset = services.mailbox_password_reset(mailbox=mailbox, actor=TEST_ACTOR)
        self.assertFalse(reset.merged)
        self.assertNotEqual(reset.job.pk, first.pk)
        joined = services.mailbox_password_reset(mailbox=mailbox.address, actor=TEST_ACTOR)
        self.assertTrue(joined.merged)
        self.assertEqual(Mailbox.objects.get().last_job_id, reset.job.pk)
        self.assertLastJobsAreTheNewest(1)

    def test_it_writes_nothing_when_the_reset_is_refused(self):
        job = deliver(create_pierre())
        services.mailbox_disable(mailbox=job.mailbox, actor=TEST_ACTOR)
        with self.assertRaises(ValidationError):
            services.mailbox_password_reset(mailbox=job.mailbox.address, actor=TEST_ACTOR)
        self.assertEqual(Mailbox.objects.get().last_job_id, job.pk)

    def test_it_points_each_imported_mailbox_to_its_own_job(self):
        member_import = imports.member_import_preview(
            data=members_csv(5).encode(), file_name="membres.csv", domain=self.domain
        )
        imports.member_import_confirm(
            member_import=MemberImport.objects.get(pk=member_import.pk), actor=TEST_ACTOR
        )
        self.assertLastJobsAreTheNewest(5)
        self.assertEqual(set(Mailbox.objects.values_list("last_job__kind", flat=True)), {"create"})

    def test_its_migration_points_existing_mailboxes_to_their_newest_job(self):
        deliver(create_pierre())
        job = deliver(create_pierre(local_part="paul", personal_email="paul@example.org"))
        services.mailbox_password_reset(mailbox=job.mailbox, actor=TEST_ACTOR)
        # A job older than the newest by its date, though written after it: date first.
        older = ProvisioningJob.objects.create(
            mailbox=job.mailbox, kind="reset", state="done", created_at=job.created_at
        )
        Mailbox.objects.update(last_job=None)
        fill_last_job(apps, None)
        self.assertLastJobsAreTheNewest(2)
        self.assertNotEqual(Mailbox.objects.get(local_part="paul").last_job_id, older.pk)


class LastJobFromTheApiTests(LastJobAssertions, ApiTestCase):
    def test_it_points_an_api_creation_and_reset_to_their_jobs(self):
        created = self.create()
        self.assertEqual(created.status_code, 202, created.content)
        job_id = created.json()["job"]["id"]
        self.assertEqual(Mailbox.objects.get().last_job_id, job_id)
        deliver(ProvisioningJob.objects.get(pk=job_id))
        reset = self.call("POST", "/api/v1/mailboxes/pierre@octopus-soignies.be/reset-password/")
        self.assertEqual(reset.status_code, 202, reset.content)
        self.assertEqual(Mailbox.objects.get().last_job_id, reset.json()["job"]["id"])
        listed = self.call("GET", "/api/v1/mailboxes/").json()["results"][0]["last_job"]
        self.assertEqual(listed["id"], reset.json()["job"]["id"])
        self.assertLastJobsAreTheNewest(1)


class LastJobFromApprovalsTests(LastJobAssertions, QueueTestCase):
    def test_it_points_an_approved_address_and_an_approved_reset_to_their_jobs(self):
        self.act("approve", self.confirmed_address_request())
        mailbox = Mailbox.objects.get()
        self.assertEqual(mailbox.last_job.kind, "create")
        deliver(mailbox.last_job)
        self.ask_password("pierre@octopus-soignies.be")
        asked = MemberRequest.objects.get(kind=MemberRequest.Kind.PASSWORD)
        self.client.post(self.confirmation_link(asked))
        self.act("approve", asked)
        self.assertEqual(Mailbox.objects.get().last_job.kind, "reset")
        self.assertEqual(Mailbox.objects.get().last_job.requested_by, self.admin)
        self.assertLastJobsAreTheNewest(1)
