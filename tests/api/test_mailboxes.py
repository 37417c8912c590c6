"""The endpoints' happy paths: create (202, the job's URL), follow the job to the SMS status,
read, reset, disable, enable; each calls the same use case as the admin."""

from unittest import mock

from accounts.models import Mailbox
from audit.models import Action, AuditRecord, Outcome
from audit.services import Actor
from provisioning import aliases, mailserver, steps
from provisioning.exceptions import TransientError
from provisioning.models import ProvisioningJob

from ..base import create_pierre, deliver, sms_passwords
from .helpers import ADDRESS, BODY, ApiTestCase

JOBS = "http://testserver/api/v1/jobs/"


class MailboxCreationTests(ApiTestCase):
    def test_it_creates_the_mailbox_and_answers_202_with_the_jobs_url(self):
        response = self.create()
        self.assertEqual(response.status_code, 202, response.content)
        job = ProvisioningJob.objects.get()
        self.assertEqual(response["Location"], f"{JOBS}{job.pk}/")
        self.assertEqual(
            response.json(),
            {
                "mailbox": {
                    "address": ADDRESS,
                    "url": f"http://testserver/api/v1/mailboxes/{ADDRESS}/",
                    "status": "pending",
                    "status_label": "en préparation",
                },
                "job": {"id": job.pk, "url": f"{JOBS}{job.pk}/", "kind": "create",
                        "state": "queued"},
                "warning": None,
            },
        )  # fmt: skip
        self.assertEqual(job.mailbox.member.full_name, BODY["full_name"])
        self.assertIsNone(job.requested_by)

    def test_it_follows_the_job_to_the_sms_status(self):
        job_url = self.create()["Location"]
        self.assertEqual(self.call("GET", job_url).json()["state"], "queued")
        job = deliver(ProvisioningJob.objects.get())
        followed = self.call("GET", job_url).json()
        self.assertEqual((followed["state"], followed["sms_status"]), ("done", "sent"))
        self.assertFalse(followed["settled"])
        steps.sms_status_record(message_sid=job.sms_message_id, status="delivered", error_code=None)
        followed = self.call("GET", job_url).json()
        self.assertEqual(followed["sms_status"], "delivered")
        self.assertTrue(followed["settled"])
        self.assertEqual(followed["tone"], "ok")
        self.assertIn("SMS remis le", followed["summary"])
        self.assertEqual(followed["mailbox"], ADDRESS)
        # The worker wrote the hash of the password that the SMS carries.
        self.assertTrue(mailserver.user_row(ADDRESS))
        self.assertEqual(len(sms_passwords()), 1)

    def test_it_makes_the_address_from_the_name_when_none_is_given(self):
        body = {**BODY, "full_name": "Pierre-Émile Dupont"}
        del body["local_part"]
        response = self.create(body)
        self.assertEqual(response.status_code, 202, response.content)
        self.assertEqual(
            response.json()["mailbox"]["address"], "pierre-emile.dupont@octopus-soignies.be"
        )

    def test_it_creates_a_role_address_only_on_purpose_with_a_warning(self):
        refused = self.create({**BODY, "local_part": "postmaster"})
        self.assertProblem(refused, 400, code="invalid")
        self.assertIn("réservée", refused.json()["errors"]["local_part"][0])
        made = self.create({**BODY, "local_part": "postmaster", "allow_reserved": True})
        self.assertEqual(made.status_code, 202, made.content)
        self.assertIn("adresse de rôle", made.json()["warning"])


class MailboxReadTests(ApiTestCase):
    def test_it_lists_the_mailboxes_with_their_last_delivery(self):
        job = create_pierre()
        response = self.call("GET", "/api/v1/mailboxes/")
        self.assertEqual(response.status_code, 200, response.content)
        page = response.json()
        self.assertEqual(page["count"], 1)
        (mailbox,) = page["results"]
        self.assertEqual(mailbox["address"], ADDRESS)
        self.assertEqual(mailbox["phone_masked"], job.mailbox.member.masked_phone)
        self.assertEqual(mailbox["last_job"]["id"], job.pk)
        self.assertEqual(mailbox["last_job"]["summary"], "En attente")

    def test_it_keeps_a_constant_number_of_queries_for_the_list(self):
        create_pierre()
        with self.assertNumQueries(6):
            self.call("GET", "/api/v1/mailboxes/")
        for n in range(5):
            create_pierre(local_part=f"membre{n}", phone=f"+3247012340{n}")
        # token, its domains, count, page, audit record; last use written once a minute
        with self.assertNumQueries(5):
            self.call("GET", "/api/v1/mailboxes/")

    def test_it_filters_by_status(self):
        create_pierre()
        response = self.call("GET", "/api/v1/mailboxes/?status=active")
        self.assertEqual(response.json()["count"], 0)
        bad = self.call("GET", "/api/v1/mailboxes/?status=perdue")
        self.assertIn("status", self.assertProblem(bad, 400)["errors"])

    def test_it_shows_one_mailbox(self):
        create_pierre()
        response = self.call("GET", f"/api/v1/mailboxes/{ADDRESS}/")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["full_name"], BODY["full_name"])
        self.assertEqual(response["Content-Language"], "fr")


class MailboxActionTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.job = deliver(create_pierre())

    def test_it_queues_a_new_password_and_answers_202_with_the_job(self):
        response = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/reset-password/")
        self.assertEqual(response.status_code, 202, response.content)
        job = ProvisioningJob.objects.latest("pk")
        self.assertEqual(job.kind, "reset")
        self.assertEqual(response["Location"], f"{JOBS}{job.pk}/")
        self.assertEqual(response.json()["merged"], False)
        again = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/reset-password/")
        self.assertEqual((again.json()["merged"], again.json()["job"]["id"]), (True, job.pk))

    def test_it_disables_and_enables(self):
        response = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/disable/")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual(response.json()["status"], "disabled")
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        response = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/enable/")
        self.assertEqual(response.json()["status"], "active")
        self.assertEqual(Mailbox.objects.get().status, "active")

    def test_it_answers_409_when_the_state_refuses_the_act(self):
        self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/disable/")
        again = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/disable/")
        self.assertIn("déjà désactivée", self.assertProblem(again, 409, code="conflict")["detail"])
        reset = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/reset-password/")
        self.assertIn("réactivez-la", self.assertProblem(reset, 409)["detail"])

    def test_it_answers_503_with_retry_after_when_the_mail_database_is_away(self):
        away = TransientError("La base du serveur mail ne répond pas.")
        with mock.patch.object(mailserver, "user_row", side_effect=away):
            response = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/disable/")
        problem = self.assertProblem(response, 503, code="unavailable")
        self.assertEqual(problem["detail"], "La base du serveur mail ne répond pas.")
        self.assertEqual(response["Retry-After"], "60")
        self.assertEqual(Mailbox.objects.get().status, "active")
        record = AuditRecord.objects.latest("pk")
        self.assertEqual((record.action, record.outcome), (Action.MAILBOX_DISABLE, Outcome.ERROR))


class MailboxDeletionTests(ApiTestCase):
    """DELETE calls mailbox_delete, as the admin's deletion and deletemailbox do."""

    def setUp(self) -> None:
        super().setUp()
        self.job = deliver(create_pierre())
        self.path = f"/api/v1/mailboxes/{ADDRESS}/"

    def test_it_refuses_logins_at_once_and_plans_the_erasure(self):
        response = self.call("DELETE", self.path)
        self.assertEqual(response.status_code, 200, response.content)
        answer = response.json()
        self.assertEqual(answer["mailbox"]["status"], "deleted")
        self.assertEqual((answer["erased"], answer["warning"]), (False, None))
        self.assertIsNotNone(answer["erase_after"])
        mailbox = Mailbox.objects.get()
        self.assertEqual(mailbox.status, "deleted")
        self.assertFalse(mailserver.user_row(ADDRESS)["active"])
        self.assertEqual(mailbox.member.full_name, BODY["full_name"])  # kept until then
        record = AuditRecord.objects.filter(action=Action.MAILBOX_DELETE).get()
        self.assertEqual((record.actor_label, record.outcome),
                         ("API: import des inscriptions", Outcome.SUCCESS))  # fmt: skip

    def test_it_erases_at_once_with_erase_now(self):
        response = self.call("DELETE", f"{self.path}?erase=now")
        self.assertEqual(response.status_code, 200, response.content)
        self.assertEqual((response.json()["erased"], response.json()["erase_after"]), (True, None))
        self.assertIsNone(mailserver.user_row(ADDRESS))
        self.assertIsNotNone(Mailbox.objects.get().erased_at)

    def test_it_names_the_aliases_that_reached_it(self):
        aliases.alias_save(source="bureau@octopus-soignies.be", destinations=ADDRESS,
                           actor=Actor(label="tests"))  # fmt: skip
        response = self.call("DELETE", self.path)
        self.assertEqual(response.json()["aliases_reaching"], ["bureau@octopus-soignies.be"])

    def test_it_answers_409_to_a_second_deletion(self):
        self.call("DELETE", self.path)
        again = self.call("DELETE", self.path)
        self.assertIn("déjà supprimée", self.assertProblem(again, 409, code="conflict")["detail"])

    def test_it_refuses_an_unknown_erase_choice_and_changes_nothing(self):
        response = self.call("DELETE", f"{self.path}?erase=jamais")
        self.assertIn("erase", self.assertProblem(response, 400, code="invalid")["errors"])
        self.assertEqual(Mailbox.objects.get().status, "active")
        self.assertTrue(mailserver.user_row(ADDRESS)["active"])
