"""The French admin: second factor required, creation form, list, actions, history."""

from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Mailbox, Member
from provisioning import mailserver
from provisioning.models import ProvisioningJob

from ..base import (
    ADMIN_PASSWORD,
    MEMBER,
    OctopusTestCase,
    create_pierre,
    deliver,
    login_with_otp,
    make_staff_without_device,
    make_verified_admin,
    sms_passwords,
)

ADD_URL = "/admin/accounts/mailbox/add/"
LIST_URL = "/admin/accounts/mailbox/"


class AdminAccessTests(OctopusTestCase):
    def test_it_sends_anonymous_visitors_to_the_login_page(self):
        response = self.client.get(LIST_URL)
        self.assertEqual(response.status_code, 302)
        self.assertIn("/admin/login/", response["Location"])

    def test_it_refuses_a_staff_member_without_a_second_factor(self):
        user = make_staff_without_device()
        response = self.client.post(
            "/admin/login/", {"username": user.username, "password": ADMIN_PASSWORD}
        )
        # The password alone leads to the enrolment of a first device, not into the admin.
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith("/admin/second-facteur/"))
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_refuses_a_password_without_its_token(self):
        user, _static, _tokens = make_verified_admin()
        self.client.post("/admin/login/", {"username": user.username, "password": ADMIN_PASSWORD})
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_refuses_a_static_token_used_twice(self):
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])
        self.client.logout()
        response = self.client.post(
            "/admin/login/",
            {
                "username": user.username,
                "password": ADMIN_PASSWORD,
                "otp_device": static.persistent_id,
                "otp_token": tokens[0],
            },
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.client.get(LIST_URL).status_code, 302)

    def test_it_lets_a_verified_administrator_in_in_french(self):
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])
        response = self.client.get("/admin/")
        self.assertContains(response, "Administration des adresses mail")
        self.assertContains(response, "Adresses mail")


class MailboxAdminTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        self.user, static, tokens = make_verified_admin()
        login_with_otp(self.client, self.user, static, tokens[0])

    def post_new(self, **overrides):
        data = {
            "full_name": MEMBER["full_name"],
            "local_part": MEMBER["local_part"],
            "domain": self.domain.pk,
            "personal_email": MEMBER["personal_email"],
            "phone": "0470 12 34 56",
            **overrides,
        }
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post(ADD_URL, data)

    def test_it_creates_a_mailbox_and_queues_its_password(self):
        response = self.post_new()
        self.assertEqual(response.status_code, 302)
        mailbox = Mailbox.objects.get()
        self.assertEqual(mailbox.address, "pierre@octopus-soignies.be")
        self.assertEqual(str(mailbox.member.phone), "+32470123456")
        job = ProvisioningJob.objects.get()
        self.assertEqual((job.kind, job.state, job.requested_by), ("create", "queued", self.user))

    def test_it_suggests_the_local_part_from_the_name(self):
        self.post_new(full_name="Pierre-Émile Dupont", local_part="")
        self.assertEqual(Mailbox.objects.get().local_part, "pierre-emile.dupont")

    def test_it_shows_french_errors_and_writes_nothing(self):
        response = self.post_new(phone="02 512 34 56", personal_email="pierre@", local_part="é t")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "numéro de GSM")
        self.assertContains(response, "adresse email valide")
        self.assertContains(response, "sans espace")
        self.assertEqual(
            (Member.objects.count(), Mailbox.objects.count(), ProvisioningJob.objects.count()),
            (0, 0, 0),
        )

    def test_it_refuses_an_address_taken_in_other_letters(self):
        self.post_new()
        response = self.post_new(local_part="Pierre", personal_email="autre@example.org")
        self.assertContains(response, "existe déjà")
        self.assertEqual(Mailbox.objects.count(), 1)

    def test_it_keeps_no_password_in_the_admin_history(self):
        self.post_new()
        job = deliver(ProvisioningJob.objects.get())
        self.client.post(
            LIST_URL, {"action": "reset_password", "_selected_action": [job.mailbox_id]}
        )
        [password] = sms_passwords()
        entries = list(LogEntry.objects.values_list("object_repr", "change_message"))
        self.assertTrue(entries)
        self.assertNotIn(password, repr(entries))

    def test_it_lists_mailboxes_with_a_constant_number_of_queries(self):
        def count_queries():
            with CaptureQueriesContext(connection) as queries:
                self.assertEqual(self.client.get(LIST_URL).status_code, 200)
            return len(queries)

        deliver(create_pierre())
        one = count_queries()
        for n in range(5):
            deliver(create_pierre(local_part=f"membre{n}", personal_email=f"m{n}@example.org"))
        self.assertEqual(count_queries(), one)

    def test_it_shows_each_mailbox_state_at_a_glance(self):
        deliver(create_pierre())
        create_pierre(local_part="paul", full_name="Paul Martin")
        response = self.client.get(LIST_URL)
        self.assertContains(response, "SMS envoyé")
        self.assertContains(response, "en attente")
        self.assertContains(response, "active")

    def test_it_resets_a_password_and_merges_a_second_click(self):
        mailbox = deliver(create_pierre()).mailbox
        action = {"action": "reset_password", "_selected_action": [mailbox.pk]}
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(LIST_URL, action)
        response = self.client.post(LIST_URL, action, follow=True)
        self.assertContains(response, "déjà en cours")
        self.assertEqual(mailbox.jobs.filter(kind="reset").count(), 1)

    def test_it_disables_and_enables_a_mailbox(self):
        mailbox = deliver(create_pierre()).mailbox
        self.client.post(LIST_URL, {"action": "disable", "_selected_action": [mailbox.pk]})
        mailbox.refresh_from_db()
        self.assertEqual(mailbox.status, "disabled")
        self.assertFalse(mailserver.user_row(mailbox.address)["active"])
        self.client.post(LIST_URL, {"action": "enable", "_selected_action": [mailbox.pk]})
        mailbox.refresh_from_db()
        self.assertEqual(mailbox.status, "active")
        self.assertTrue(mailserver.user_row(mailbox.address)["active"])

    def test_it_warns_when_resetting_a_disabled_mailbox(self):
        mailbox = deliver(create_pierre()).mailbox
        self.client.post(LIST_URL, {"action": "disable", "_selected_action": [mailbox.pk]})
        response = self.client.post(
            LIST_URL, {"action": "reset_password", "_selected_action": [mailbox.pk]}, follow=True
        )
        self.assertContains(response, "réactivez-la")
        self.assertEqual(mailbox.jobs.count(), 1)

    def test_it_resends_the_confirmation_email(self):
        mailbox = deliver(create_pierre()).mailbox
        ProvisioningJob.objects.filter(mailbox=mailbox).update(email_status="sent")
        response = self.client.post(
            LIST_URL,
            {"action": "resend_confirmation", "_selected_action": [mailbox.pk]},
            follow=True,
        )
        self.assertContains(response, "email de confirmation en cours d")
        self.assertEqual(mailbox.jobs.get().email_status, "queued")

    def test_it_shows_the_job_history_on_the_mailbox_page(self):
        job = deliver(create_pierre())
        response = self.client.get(f"{LIST_URL}{job.mailbox_id}/change/")
        self.assertContains(response, "Historique des envois")
        self.assertContains(response, "SMS envoyé")
        self.assertContains(response, "+32 4•• •• •• 56")


class AdminIndexTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])

    def test_it_shows_what_needs_the_administrator_first(self):
        failed = deliver(create_pierre())
        ProvisioningJob.objects.filter(pk=failed.pk).update(sms_status="undelivered")
        create_pierre(local_part="paul", full_name="Paul Martin")
        response = self.client.get("/admin/")
        dashboard = response.context["dashboard"]
        counts = {str(row["label"]): (row["count"], row["tone"]) for row in dashboard}
        self.assertEqual(counts["SMS non remis"], (1, "error"))
        self.assertEqual(counts["Envois en attente ou en cours"], (1, "waiting"))
        self.assertEqual(counts["Envois en échec"], (0, "ok"))
        self.assertContains(response, "À traiter d")
        self.assertContains(response, "?sms=not_delivered")

    def test_it_counts_with_a_constant_number_of_queries(self):
        def count():
            with CaptureQueriesContext(connection) as queries:
                self.client.get("/admin/")
            return len(queries)

        deliver(create_pierre())
        first = count()
        for n in range(4):
            create_pierre(local_part=f"m{n}", personal_email=f"m{n}@example.org")
        self.assertEqual(count(), first)


class MailboxLiveEndpointsTests(OctopusTestCase):
    def setUp(self):
        super().setUp()
        user, static, tokens = make_verified_admin()
        login_with_otp(self.client, user, static, tokens[0])

    def available(self, local_part):
        url = "/admin/accounts/mailbox/disponible/"
        return self.client.get(url, {"local_part": local_part, "domain": self.domain.pk}).json()

    def test_it_says_as_you_type_whether_the_address_is_free(self):
        self.assertEqual(
            self.available("pierre"),
            {"ok": True, "message": "pierre@octopus-soignies.be est libre."},
        )
        deliver(create_pierre())
        self.assertFalse(self.available("Pierre")["ok"])
        self.assertIn("existe déjà", self.available("Pierre")["message"])
        self.assertIn("sans espace", self.available("jean marc")["message"])

    def test_it_gives_the_mailbox_page_the_delivery_to_follow(self):
        job = create_pierre()
        url = f"/admin/accounts/mailbox/{job.mailbox_id}/statut/"
        self.assertEqual(self.client.get(url).json()["settled"], False)
        deliver(job)
        ProvisioningJob.objects.filter(pk=job.pk).update(sms_status="delivered")
        state = self.client.get(url).json()
        self.assertTrue(state["settled"])
        self.assertTrue(state["text"].startswith("SMS remis le "))

    def test_it_refuses_both_endpoints_without_a_second_factor(self):
        job = create_pierre()
        self.client.logout()
        for url in (f"/admin/accounts/mailbox/{job.mailbox_id}/statut/",
                    "/admin/accounts/mailbox/disponible/?local_part=x&domain=1"):  # fmt: skip
            self.assertEqual(self.client.get(url).status_code, 302)
