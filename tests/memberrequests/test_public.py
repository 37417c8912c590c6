"""The public pages: ask for an address, report a forgotten password, confirm by email."""

import time
from unittest import mock

from django.core import mail
from django.test import Client

from accounts.models import Mailbox
from memberrequests import tasks, throttle
from memberrequests.models import MemberRequest

from ..base import MEMBER, create_pierre
from .helpers import ADDRESS_URL, ASKED, PASSWORD_URL, RequestTestCase

SCRIPT = '<script>alert("x")</script>'
Status = MemberRequest.Status


class AddressRequestPageTests(RequestTestCase):
    def test_it_shows_a_french_form_without_login(self):
        response = self.client.get(ADDRESS_URL)
        self.assertContains(response, "Demander une adresse mail")
        self.assertContains(response, "@octopus-soignies.be")
        self.assertContains(response, 'name="csrfmiddlewaretoken"')
        self.assertContains(response, 'name="viewport"')
        self.assertContains(response, "accounts/suggest_local_part.js")

    def test_it_loads_nothing_from_outside(self):
        content = self.client.get(ADDRESS_URL).content.decode()
        self.assertNotRegex(content, r'(src|href)="(https?:)?//')

    def test_it_refuses_the_post_without_the_csrf_token(self):
        response = Client(enforce_csrf_checks=True).post(ADDRESS_URL, ASKED)
        self.assertEqual(response.status_code, 403)
        self.assertFalse(MemberRequest.objects.exists())

    def test_it_refuses_an_empty_form_in_french(self):
        response = self.client.post(ADDRESS_URL, {})
        self.assertContains(response, "Corrigez les champs signalés")
        self.assertContains(response, "Ce champ est obligatoire.", count=3)
        self.assertFalse(MemberRequest.objects.exists())
        self.assertEqual(mail.outbox, [])

    def test_it_escapes_html_and_script_in_every_field(self):
        response = self.ask_address(
            full_name=SCRIPT, local_part=SCRIPT, personal_email=SCRIPT, phone=SCRIPT,
            message=SCRIPT,
        )  # fmt: skip
        self.assertEqual(response.status_code, 200)
        content = response.content.decode()
        self.assertNotIn(SCRIPT, content)
        self.assertIn("&lt;script&gt;", content)
        self.assertFalse(MemberRequest.objects.exists())

    def test_it_escapes_a_name_and_message_in_html_in_the_email_and_the_confirmation_page(self):
        self.ask_address(full_name=f"Pierre {SCRIPT}", message=SCRIPT)
        member_request = MemberRequest.objects.get()
        self.assertEqual(member_request.full_name, f"Pierre {SCRIPT}")  # kept as typed
        link = self.confirmation_link(member_request)
        html = mail.outbox[-1].alternatives[0][0]
        self.assertNotIn(SCRIPT, html)
        self.assertIn("Pierre &lt;script&gt;", html)
        page = self.client.get(link).content.decode()
        self.assertNotIn(SCRIPT, page)
        self.assertIn("&lt;script&gt;", page)

    def test_it_refuses_a_malformed_address(self):
        response = self.ask_address(local_part="Pierre Dupont!")
        self.assertContains(response, "« pierre dupont! » n&#x27;est pas accepté")
        self.assertFalse(MemberRequest.objects.exists())

    def test_it_refuses_an_unparseable_phone(self):
        response = self.ask_address(phone="pas de numéro")
        self.assertContains(response, "Numéro de GSM illisible")
        self.assertFalse(MemberRequest.objects.exists())

    def test_it_refuses_a_fixed_line(self):
        response = self.ask_address(phone="+32 67 33 00 00")
        self.assertContains(response, "pas un numéro de GSM")

    def test_it_does_not_tell_that_an_address_is_taken(self):
        create_pierre()
        response = self.ask_address()
        self.assertContains(response, "Vérifiez vos emails")
        self.assertNotContains(response, "existe déjà")
        self.assertEqual(MemberRequest.objects.get().local_part, "pierre")

    def test_it_suggests_the_address_from_the_name(self):
        self.ask_address(full_name="Marie-Ève  Lambert", local_part="")
        self.assertEqual(MemberRequest.objects.get().local_part, "marie-eve.lambert")

    def test_it_records_an_unconfirmed_request_and_mails_the_link(self):
        response = self.ask_address()
        self.assertContains(response, MEMBER["personal_email"])
        member_request = MemberRequest.objects.get()
        self.assertEqual(member_request.status, Status.UNCONFIRMED)
        self.assertEqual(str(member_request.phone), MEMBER["phone"])
        link = self.confirmation_link(member_request)
        self.assertEqual(mail.outbox[-1].to, [MEMBER["personal_email"]])
        self.assertIn("pierre@octopus-soignies.be", mail.outbox[-1].subject + mail.outbox[-1].body)
        self.assertTrue(link.startswith("/demande/confirmer/"))
        self.assertFalse(Mailbox.objects.exists())

    def test_it_keeps_one_request_when_the_very_same_is_posted_twice(self):
        self.ask_address()
        response = self.ask_address(personal_email="PIERRE@example.org")
        self.assertContains(response, "Vérifiez vos emails")
        member_request = MemberRequest.objects.get()
        self.assertEqual(member_request.status, Status.UNCONFIRMED)

    def test_it_makes_a_new_request_when_a_different_one_is_posted_again(self):
        self.ask_address()
        response = self.ask_address(phone="0471 23 45 67", personal_email="PIERRE@example.org")
        self.assertContains(response, "Vérifiez vos emails")
        first, second = MemberRequest.objects.order_by("pk")
        self.assertEqual((first.status, str(first.phone)), (Status.SUPERSEDED, MEMBER["phone"]))
        self.assertEqual((second.status, str(second.phone)), (Status.UNCONFIRMED, "+32471234567"))

    def test_it_keeps_one_pending_request_when_posted_again_after_confirming(self):
        self.ask_address()
        member_request = MemberRequest.objects.get()
        self.client.post(self.confirmation_link(member_request))
        self.ask_address(phone="0471 23 45 67")
        member_request.refresh_from_db()
        self.assertEqual(MemberRequest.objects.count(), 1)
        self.assertEqual(member_request.status, Status.PENDING)
        self.assertEqual(str(member_request.phone), MEMBER["phone"])

    def test_it_throttles_one_client_ip(self):
        attempts, _window = throttle.PER_IP
        for n in range(attempts):
            self.ask_address(personal_email=f"p{n}@example.org")
        response = self.ask_address(personal_email="last@example.org")
        self.assertContains(response, "Trop de demandes", status_code=429)
        self.assertEqual(MemberRequest.objects.count(), attempts)

    def test_it_throttles_one_personal_email(self):
        attempts, _window = throttle.PER_ADDRESS
        for n in range(attempts):
            self.client.post(ADDRESS_URL, ASKED, REMOTE_ADDR=f"192.0.2.{n + 1}")
        response = self.client.post(ADDRESS_URL, ASKED, REMOTE_ADDR="192.0.2.99")
        self.assertEqual(response.status_code, 429)


class ConfirmationTests(RequestTestCase):
    def setUp(self):
        super().setUp()
        self.ask_address()
        self.member_request = MemberRequest.objects.get()
        self.link = self.confirmation_link(self.member_request)

    def test_it_confirms_nothing_when_the_link_is_only_opened(self):
        response = self.client.get(self.link)
        self.assertContains(response, "Je confirme ma demande")
        self.assertContains(response, "pierre@octopus-soignies.be")
        self.member_request.refresh_from_db()
        self.assertEqual(self.member_request.status, Status.UNCONFIRMED)

    def test_it_sends_the_request_to_the_queue_on_the_button(self):
        response = self.client.post(self.link)
        self.assertContains(response, "Demande confirmée")
        self.member_request.refresh_from_db()
        self.assertEqual(self.member_request.status, Status.PENDING)
        self.assertIsNotNone(self.member_request.confirmed_at)
        self.assertFalse(Mailbox.objects.exists())  # the administrator has not approved yet

    def test_it_refuses_a_link_older_than_48_hours(self):
        later = time.time() + 49 * 3600
        with mock.patch("django.core.signing.time.time", return_value=later):
            response = self.client.post(self.link)
        self.assertContains(response, "Ce lien a expiré", status_code=400)
        self.member_request.refresh_from_db()
        self.assertEqual(self.member_request.status, Status.UNCONFIRMED)

    def test_it_refuses_a_forged_link(self):
        forged = self.link.replace(f"/confirmer/{self.member_request.pk}:", "/confirmer/999:")
        self.assertNotEqual(forged, self.link)
        response = self.client.post(forged)
        self.assertContains(response, "Ce lien n&#x27;est pas valide", status_code=400)

    def test_it_sends_a_new_link_when_the_request_is_posted_again(self):
        self.ask_address()
        self.assertIn("/demande/confirmer/", self.confirmation_link(self.member_request))


class PasswordRequestPageTests(RequestTestCase):
    def setUp(self):
        super().setUp()
        self.job = create_pierre()

    def test_it_shows_a_french_form_without_login(self):
        response = self.client.get(PASSWORD_URL)
        self.assertContains(response, "Mot de passe oublié")
        self.assertContains(response, 'name="csrfmiddlewaretoken"')

    def test_it_answers_the_same_whether_the_address_exists_or_not(self):
        known = self.ask_password("pierre@octopus-soignies.be")
        unknown = self.ask_password("personne@octopus-soignies.be")
        self.assertEqual(known.status_code, unknown.status_code)
        self.assertEqual(
            known.content.decode().replace("pierre@", "X@"),
            unknown.content.decode().replace("personne@", "X@"),
        )

    def run_worker(self) -> None:
        """The tasks the posts enqueued, run as the worker would: the addresses looked up."""
        for pk in MemberRequest.objects.filter(status=Status.RECEIVED).values_list("pk", flat=True):
            tasks.send_confirmation(pk)

    def test_it_records_a_request_only_for_an_existing_address(self):
        self.ask_password("personne@octopus-soignies.be")
        self.run_worker()
        self.assertFalse(MemberRequest.objects.exists())
        self.ask_password("Pierre")  # the local part alone, any case
        self.run_worker()
        member_request = MemberRequest.objects.get()
        self.assertEqual(member_request.kind, MemberRequest.Kind.PASSWORD)
        self.assertEqual(member_request.mailbox, self.job.mailbox)

    def test_it_mails_the_link_to_the_personal_email_on_record(self):
        self.ask_password("pierre@octopus-soignies.be")
        self.confirmation_link(MemberRequest.objects.get())
        self.assertEqual(mail.outbox[-1].to, [MEMBER["personal_email"]])
        self.assertIn("nouveau mot de passe", mail.outbox[-1].body)

    def test_it_refuses_an_empty_form(self):
        response = self.client.post(PASSWORD_URL, {})
        self.assertContains(response, "Ce champ est obligatoire.")

    def test_it_escapes_html_and_script(self):
        response = self.ask_password(SCRIPT)
        self.assertNotIn(SCRIPT, response.content.decode())
        self.assertFalse(MemberRequest.objects.exists())

    def test_it_keeps_one_request_when_the_same_is_posted_twice(self):
        self.ask_password("pierre@octopus-soignies.be")
        self.run_worker()
        self.ask_password("pierre@octopus-soignies.be")
        self.run_worker()
        self.assertEqual(MemberRequest.objects.get().status, Status.UNCONFIRMED)
        self.assertEqual(len(mail.outbox), 2)  # the link again, to the same email

    def test_it_throttles_one_address_known_or_not(self):
        attempts, _window = throttle.PER_ADDRESS
        for address in ["pierre@octopus-soignies.be", "personne@octopus-soignies.be"]:
            for n in range(attempts):
                self.client.post(PASSWORD_URL, {"address": address}, REMOTE_ADDR=f"192.0.2.{n}")
            response = self.client.post(PASSWORD_URL, {"address": address}, REMOTE_ADDR="192.0.2.9")
            self.assertContains(response, "Trop de demandes", status_code=429)

    def test_it_throttles_one_client_ip(self):
        attempts, _window = throttle.PER_IP
        for n in range(attempts):
            self.ask_password(f"personne{n}@octopus-soignies.be")
        response = self.ask_password("pierre@octopus-soignies.be")
        self.assertEqual(response.status_code, 429)
        self.assertFalse(MemberRequest.objects.filter(asked_address__startswith="pierre@"))
        self.run_worker()
        self.assertFalse(MemberRequest.objects.exists())
