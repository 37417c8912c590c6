"""The issue's acceptance run: createmailbox with the Twilio backend pointed at a local
double; the double posts signed callbacks over HTTP to the app served on loopback."""

import io

from django.core import mail
from django.core.management import call_command
from django.test import LiveServerTestCase

from provisioning import tasks
from provisioning.models import ProvisioningJob
from provisioning.sms.base import fits_one_segment

from .base import login_with_otp, make_verified_admin, the_domain
from .fakes.twilio_api import SENDER, FakeTwilio


class TwilioAcceptanceTests(LiveServerTestCase):
    databases = {"default", "mailserver"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.twilio = FakeTwilio()
        cls.twilio.start()
        cls.addClassCleanup(cls.twilio.stop)

    def setUp(self):
        self.twilio.reset()
        self.enterContext(self.twilio.settings(PUBLIC_BASE_URL=self.live_server_url))
        the_domain()
        self.admin, self.device, self.tokens = make_verified_admin()

    def create(self, local_part: str) -> ProvisioningJob:
        call_command(
            "createmailbox", f"{local_part}@octopus-soignies.be", "--name", "Pierre Dupont",
            "--phone", "0470 12 34 56", "--personal-email", "pierre@example.org", "--no-wait",
            stdout=io.StringIO(),
        )  # fmt: skip
        job = ProvisioningJob.objects.get(mailbox__local_part=local_part)
        tasks.deliver_password(job.pk)  # what the worker does with the job id
        job.refresh_from_db()
        return job

    def test_it_sends_one_sms_then_shows_it_delivered_and_redacts_it(self):
        job = self.create("pierre")
        [sent] = [r["form"] for r in self.twilio.requests if r["path"].endswith("Messages.json")]
        self.assertEqual((sent["To"], sent["From"]), ("+32470123456", SENDER))
        self.assertTrue(fits_one_segment(sent["Body"]))
        self.assertEqual(self.twilio.post_status(job.sms_message_id, "delivered"), 204)
        job.refresh_from_db()
        self.assertEqual(job.sms_status, "delivered")

        login_with_otp(self.client, self.admin, self.device, self.tokens[0])
        page = self.client.get(f"/admin/accounts/mailbox/{job.mailbox_id}/change/")
        self.assertContains(page, "SMS remis le ")

        tasks.redact_sms(job.pk)  # enqueued by the callback
        self.assertEqual(self.twilio.messages[job.sms_message_id]["body"], "")

    def test_it_alerts_the_administrators_when_the_sms_is_not_delivered(self):
        job = self.create("paul")
        self.assertEqual(self.twilio.post_status(job.sms_message_id, "undelivered", 30005), 204)
        mail.outbox.clear()
        tasks.alert_sms_failure(job.pk)
        [alert] = mail.outbox
        self.assertEqual(alert.to, [self.admin.email])
        self.assertIn("numéro inconnu ou qui n'existe plus (30005)", alert.body)

    def test_it_answers_403_to_a_bad_signature_and_changes_nothing(self):
        job = self.create("jean")
        self.assertEqual(
            self.twilio.post_status(job.sms_message_id, "delivered", signature="x"), 403
        )
        job.refresh_from_db()
        self.assertEqual(job.sms_status, "queued")
