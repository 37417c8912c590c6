"""Twilio's status callbacks, the body's redaction and the failure alert, through the real
`twilio` client and a local double of Twilio's API."""

from datetime import timedelta

from django.core import mail
from django.test import override_settings
from django.utils import timezone

from accounts.models import Mailbox
from provisioning import steps, tasks
from provisioning.exceptions import PermanentError, TransientError
from provisioning.models import ProvisioningJob, SmsStatusEvent
from provisioning.sms import send_sms

from ..base import (
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_verified_admin,
)
from ..fakes.twilio_api import SENDER, FakeTwilio
from .doubles import published_tasks, task_calls

PUBLIC = "https://admin.octopus-soignies.be"
WEBHOOK = "/webhooks/twilio/status/"


class TwilioStatusTestCase(OctopusTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.twilio = FakeTwilio()
        cls.twilio.start()
        cls.addClassCleanup(cls.twilio.stop)

    def setUp(self):
        super().setUp()
        self.twilio.reset()
        self.enterContext(self.twilio.settings(PUBLIC_BASE_URL=PUBLIC))
        self.admin, self.device, self.tokens = make_verified_admin()
        self.job = deliver(create_pierre())

    def callback(self, status, error_code=None, signature=None, sid=None):
        """Post the callback Twilio would send, through Django's test client."""
        url, form, good = self.twilio.callback_request(
            sid or self.job.sms_message_id, status, error_code
        )
        self.assertTrue(url.startswith(PUBLIC))
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                url[len(PUBLIC) :], form, HTTP_X_TWILIO_SIGNATURE=signature or good
            )
        self.published = [name for name, _args, _kwargs in task_calls(published)]
        self.job.refresh_from_db()
        return response


class StatusCallbackTests(TwilioStatusTestCase):
    def test_it_sends_one_gsm7_message_to_the_e164_number_with_the_callback_url(self):
        [request] = [r for r in self.twilio.requests if r["path"].endswith("/Messages.json")]
        form = request["form"]
        self.assertEqual((form["To"], form["From"]), ("+32470123456", SENDER))
        self.assertEqual(form["StatusCallback"], PUBLIC + WEBHOOK)
        self.assertLessEqual(len(form["Body"]), 160)
        self.assertEqual(self.job.sms_status, "queued")

    def test_it_records_a_delivered_status_and_asks_for_the_redaction(self):
        response = self.callback("delivered")
        self.assertEqual(response.status_code, 204)
        self.assertEqual((self.job.sms_status, self.job.sms_redaction), ("delivered", "pending"))
        self.assertIsNotNone(self.job.sms_status_at)
        self.assertEqual(self.published, ["provisioning.redact_sms"])

    def test_it_redacts_the_body_at_twilio_through_the_api(self):
        self.callback("delivered")
        tasks.redact_sms(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual(self.job.sms_redaction, "done")
        self.assertEqual(self.twilio.messages[self.job.sms_message_id]["body"], "")

    def test_it_retries_a_redaction_twilio_could_not_take(self):
        self.callback("delivered")
        self.twilio.fail_next(503)
        with self.assertRaises(TransientError):
            tasks.redact_sms(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual(self.job.sms_redaction, "pending")
        tasks.redact_sms(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual(self.job.sms_redaction, "done")

    def test_it_redacts_a_body_whose_final_status_never_came_back(self):
        # No callback (a wrong PUBLIC_BASE_URL, a lost post): the sweep asks a day later.
        self.assertEqual(steps.jobs_sweep()["redaction"], 0)
        ProvisioningJob.objects.filter(pk=self.job.pk).update(
            email_status="sent",
            sms_sent_at=timezone.now() - timedelta(days=1, minutes=1),
            updated_at=timezone.now() - timedelta(days=1, minutes=1),
        )
        with published_tasks() as published, self.captureOnCommitCallbacks(execute=True):
            self.assertEqual(steps.jobs_sweep()["redaction"], 1)
        self.assertEqual(task_calls(published), [("provisioning.redact_sms", [self.job.pk], {})])
        tasks.redact_sms(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual(self.job.sms_redaction, "done")
        self.assertEqual(self.twilio.messages[self.job.sms_message_id]["body"], "")

    def test_it_records_a_redaction_twilio_refuses_for_good(self):
        self.callback("delivered")
        self.twilio.fail_next(404, 20404)
        tasks.redact_sms(self.job.pk)
        self.job.refresh_from_db()
        self.assertEqual(self.job.sms_redaction, "failed")
        self.assertIn("Effacement du SMS", self.job.last_error)

    def test_it_never_moves_a_status_backwards(self):
        self.callback("delivered")
        response = self.callback("sent")
        self.assertEqual(response.status_code, 204)
        self.assertEqual(self.job.sms_status, "delivered")

    def test_it_accepts_a_replayed_callback_once(self):
        self.callback("undelivered", error_code=30003)
        self.assertIn("provisioning.alert_sms_failure", self.published)
        response = self.callback("undelivered", error_code=30003)
        self.assertEqual(response.status_code, 204)
        self.assertEqual(self.published, [])  # no second alert, no second redaction
        self.assertEqual(SmsStatusEvent.objects.count(), 1)

    def test_it_applies_a_callback_that_arrived_before_the_send_was_recorded(self):
        reset = ProvisioningJob.objects.create(mailbox=self.job.mailbox, kind="reset")
        ProvisioningJob.objects.filter(pk=reset.pk).update(state="queued")
        next_sid = "SM" + "0" * 32
        SmsStatusEvent.objects.create(message_sid=next_sid, status="delivered")
        original = steps.sms.send_sms

        def send_with_known_sid(*, to, body):
            sent = original(to=to, body=body)
            SmsStatusEvent.objects.filter(message_sid=next_sid).update(message_sid=sent.message_id)
            return sent

        steps.sms.send_sms = send_with_known_sid
        self.addCleanup(setattr, steps.sms, "send_sms", original)
        reset = deliver(reset)
        self.assertEqual(reset.sms_status, "delivered")


class StatusCallbackRefusalTests(TwilioStatusTestCase):
    def assert_nothing_written(self, response, status_code):
        self.assertEqual(response.status_code, status_code)
        self.assertEqual(SmsStatusEvent.objects.count(), 0)
        self.assertEqual(self.job.sms_status, "queued")

    def test_it_refuses_a_callback_without_signature(self):
        url, form, _good = self.twilio.callback_request(self.job.sms_message_id, "delivered")
        response = self.client.post(WEBHOOK, form)
        self.job.refresh_from_db()
        self.assert_nothing_written(response, 403)

    def test_it_refuses_a_wrong_signature(self):
        self.assert_nothing_written(self.callback("delivered", signature="bm90IGl0"), 403)

    def test_it_refuses_a_signature_made_with_another_token(self):
        with override_settings(TWILIO_AUTH_TOKEN="f" * 32):
            self.assert_nothing_written(self.callback("delivered"), 403)

    def test_it_refuses_an_unknown_status(self):
        self.assert_nothing_written(self.callback("teleported"), 400)

    def test_it_refuses_a_malformed_message_id(self):
        self.twilio.callbacks["nonsense"] = PUBLIC + WEBHOOK
        self.twilio.messages["nonsense"] = {"from": SENDER, "to": "+32470123456"}
        self.assert_nothing_written(self.callback("delivered", sid="nonsense"), 400)

    def test_it_keeps_a_signed_callback_for_an_unknown_message_and_changes_no_job(self):
        sid = "SM" + "f" * 32
        self.twilio.callbacks[sid] = PUBLIC + WEBHOOK
        self.twilio.messages[sid] = {"from": SENDER, "to": "+32470000000"}
        response = self.callback("delivered", sid=sid)
        self.assertEqual(response.status_code, 204)
        self.assertEqual(self.job.sms_status, "queued")

    def test_it_refuses_get(self):
        self.assertEqual(self.client.get(WEBHOOK).status_code, 405)


class SmsFailureAlertTests(TwilioStatusTestCase):
    def test_it_emails_the_administrators_the_address_and_the_reason(self):
        self.callback("undelivered", error_code=30003)
        mail.outbox.clear()
        tasks.alert_sms_failure(self.job.pk)
        [alert] = mail.outbox
        self.assertEqual(alert.to, [self.admin.email])
        self.assertIn("pierre@octopus-soignies.be", alert.subject)
        self.assertIn("numéro injoignable (téléphone éteint ou hors réseau) (30003)", alert.body)
        self.assertIn(f"{PUBLIC}/admin/accounts/mailbox/{self.job.mailbox_id}/change/", alert.body)

    def test_it_shows_the_failure_in_french_on_the_list_and_offers_a_new_password(self):
        self.callback("undelivered", error_code=30003)
        login_with_otp(self.client, self.admin, self.device, self.tokens[0])
        response = self.client.get("/admin/accounts/mailbox/?sms=not_delivered")
        self.assertContains(response, "SMS non remis : numéro injoignable")
        self.assertContains(response, "renvoyer un nouveau mot de passe")
        self.assertContains(response, "(30003)")

    def test_it_shows_a_delivered_sms_on_the_mailbox_page(self):
        self.callback("delivered")
        login_with_otp(self.client, self.admin, self.device, self.tokens[0])
        response = self.client.get(f"/admin/accounts/mailbox/{self.job.mailbox_id}/change/")
        self.assertContains(response, "SMS remis le ")
        self.assertContains(response, "Renvoyer un nouveau mot de passe par SMS")
        listed = self.client.get("/admin/accounts/mailbox/?sms=not_delivered")
        self.assertNotContains(listed, "pierre@octopus-soignies.be")

    def test_it_sends_a_new_password_from_the_mailbox_page(self):
        Mailbox.objects.filter(pk=self.job.mailbox_id).update(status="active")
        login_with_otp(self.client, self.admin, self.device, self.tokens[0])
        url = f"/admin/accounts/mailbox/{self.job.mailbox_id}/nouveau-mot-de-passe/"
        self.assertEqual(self.client.get(url).status_code, 405)
        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(url, follow=True)
        self.assertContains(response, "nouveau mot de passe en cours d")
        self.assertEqual(ProvisioningJob.objects.filter(kind="reset").count(), 1)


class TwilioAnswerTests(TwilioStatusTestCase):
    def test_it_retries_when_twilio_answers_html(self):
        self.twilio.html_next(200)
        with self.assertRaisesMessage(TransientError, "illisible"):
            send_sms(to="+32470123456", body="Octopus-Soignies : test")

    def test_it_refuses_a_body_that_needs_two_segments_before_sending(self):
        before = len(self.twilio.requests)
        for body in ("x" * 161, "Octopus-Soignies : mot de passe reçu ?"):  # ç: UCS-2
            with self.subTest(body=body), self.assertRaisesMessage(PermanentError, "GSM-7"):
                send_sms(to="+32470123456", body=body)
        self.assertEqual(len(self.twilio.requests), before)
