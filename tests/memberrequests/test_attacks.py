"""Issue #12's holes in the public request pages: a pending address request hijacked by a
second post, and the forgotten-password page (and the address page) telling by the work
done in the request whether an address exists. Each test replays the probe's attack."""

import functools
import re

from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memberrequests import services
from memberrequests.models import MemberRequest
from provisioning.models import ProvisioningJob
from provisioning.sms import locmem

from ..base import MEMBER, TEST_ACTOR, create_pierre, deliver
from .helpers import ADDRESS_URL, ASKED, PASSWORD_URL, RequestTestCase

Status = MemberRequest.Status
ATTACKER_PHONE = "+32471234567"  # typed "0471 23 45 67"
ATTACKER_MASKED = "+32 4•• •• •• 67"
VICTIM_MASKED = "+32 4•• •• •• 56"
CSRF_TOKEN = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')
SAVEPOINT = re.compile(r'"s\d+_x\d+"')
LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+\b")


def without_csrf_token(content: bytes) -> bytes:
    return CSRF_TOKEN.sub(b'name="csrfmiddlewaretoken" value=""', content)


def statements(queries: list[str]) -> list[str]:
    """The SQL a request ran, without its values: the same work has the same statements."""
    return [LITERAL.sub("?", SAVEPOINT.sub('"s"', sql)) for sql in queries]


class PendingRequestHijackTests(RequestTestCase):
    """#12: `/demande/adresse/` posted again with the victim's personal email and another
    phone overwrote the unconfirmed request; the victim's link then confirmed the attacker's
    phone, and the approval texted the password to the attacker."""

    def setUp(self):
        super().setUp()
        self.ask_address(REMOTE_ADDR="192.0.2.1")  # the victim, Pierre
        self.victim_request = MemberRequest.objects.get()
        self.victim_link = self.confirmation_link(self.victim_request)

    def attacker_posts(self):
        return self.ask_address(phone="0471 23 45 67", REMOTE_ADDR="198.51.100.7")

    def test_it_never_lets_a_second_post_change_what_the_first_link_confirms(self):
        self.attacker_posts()
        self.client.post(self.victim_link)  # Pierre confirms what he asked, he believes
        for pending in MemberRequest.objects.filter(status=Status.PENDING):
            services.member_request_approve(member_request=pending, actor=TEST_ACTOR)
        for job in ProvisioningJob.objects.all():
            deliver(job)
        self.assertNotIn(ATTACKER_PHONE, [message["to"] for message in locmem.outbox])
        self.assertFalse(MemberRequest.objects.filter(phone=ATTACKER_PHONE, status=Status.PENDING))
        self.victim_request.refresh_from_db()
        self.assertEqual(str(self.victim_request.phone), MEMBER["phone"])  # never rewritten

    def test_it_makes_a_second_post_a_new_request_with_its_own_link(self):
        self.attacker_posts()
        victim, attacker = MemberRequest.objects.order_by("pk")
        self.assertEqual(victim.pk, self.victim_request.pk)
        self.assertEqual(victim.status, Status.SUPERSEDED)
        self.assertEqual(
            (attacker.status, str(attacker.phone)), (Status.UNCONFIRMED, ATTACKER_PHONE)
        )
        attacker_link = self.confirmation_link(attacker)
        self.assertNotEqual(attacker_link, self.victim_link)
        # The email tells Pierre which phone this one would text: not his.
        self.assertEqual(mail.outbox[-1].to, [MEMBER["personal_email"]])
        self.assertIn(ATTACKER_MASKED, mail.outbox[-1].body)

    def test_it_tells_in_french_that_the_first_link_no_longer_works(self):
        self.attacker_posts()
        for response in (self.client.get(self.victim_link), self.client.post(self.victim_link)):
            self.assertContains(response, "Une demande plus récente a été faite", status_code=400)
            self.assertNotContains(response, "Je confirme", status_code=400)
        self.assertFalse(MemberRequest.objects.filter(status=Status.PENDING))

    def test_it_never_confirms_a_request_whose_content_changed_after_its_link(self):
        changed = {"phone": ATTACKER_PHONE, "full_name": "Pierre Dupond", "local_part": "pierre2",
                   "personal_email": "pierre@example.net", "message": "autre"}  # fmt: skip
        rows = MemberRequest.objects.filter(pk=self.victim_request.pk)
        original = rows.values(*changed).get()
        for field, value in changed.items():
            with self.subTest(field=field):
                rows.update(**{field: value})
                response = self.client.post(self.victim_link)
                self.assertContains(response, "La demande a changé", status_code=400)
                self.assertEqual(rows.get().status, Status.UNCONFIRMED)
                rows.update(**{field: original[field]})
        self.assertContains(self.client.get(self.victim_link), "Je confirme ma demande")

    def test_it_shows_the_address_and_the_masked_phone_before_confirming(self):
        response = self.client.get(self.victim_link)
        self.assertContains(response, "pierre@octopus-soignies.be")
        self.assertContains(response, VICTIM_MASKED)
        self.attacker_posts()
        response = self.client.get(self.confirmation_link(MemberRequest.objects.latest("pk")))
        self.assertContains(response, "pierre@octopus-soignies.be")
        self.assertContains(response, ATTACKER_MASKED)
        for shown in ("471 23 45 67", "471234567", "0471"):
            self.assertNotContains(response, shown)


class PostDone:
    """What one post did inside the request: its response, its queries, its tasks."""

    def __init__(self, response, queries, callbacks):
        self.response = response
        self.queries = [query["sql"] for query in queries.captured_queries]
        self.tasks = [
            (callback.func.__self__, callback.args, callback.keywords)
            for callback in callbacks
            if isinstance(callback, functools.partial)  # delay_on_commit's doorbells
        ]

    def run_tasks(self) -> None:
        """As the worker would, once the request has answered."""
        for task, args, kwargs in self.tasks:
            task(*args, **kwargs)


class EnumerationByTimingTests(RequestTestCase):
    """#12: the forgotten-password page took ~20 ms for a known address and ~8 ms for an
    unknown one (30 samples each, no overlap): only the known path wrote and mailed inside
    the request. The address page's taken path ran more queries than its free path."""

    def post(self, url: str, data: dict) -> PostDone:
        cache.clear()  # the throttle's counters: each post is the first of its hour
        with self.captureOnCommitCallbacks() as callbacks:
            with CaptureQueriesContext(connection) as queries:
                response = self.client.post(url, data)
        self.assertEqual(response.status_code, 200)
        return PostDone(response, queries, callbacks)

    def forgotten(self, address: str) -> PostDone:
        return self.post(PASSWORD_URL, {"address": address})

    def asked(self, local_part: str) -> PostDone:
        MemberRequest.objects.all().delete()  # the same state for both: no request yet
        return self.post(ADDRESS_URL, {**ASKED, "local_part": local_part})

    # --- forgotten password: known vs unknown ---

    def test_it_runs_the_same_queries_for_a_known_and_an_unknown_address(self):
        create_pierre()
        known = self.forgotten("pierre@octopus-soignies.be")
        unknown = self.forgotten("paul@octopus-soignies.be")
        self.assertEqual(len(known.queries), len(unknown.queries))
        self.assertEqual(statements(known.queries), statements(unknown.queries))
        self.assertEqual(len(known.tasks), 1)
        self.assertEqual(len(unknown.tasks), 1)
        self.assertEqual(mail.outbox, [])  # nothing mailed inside either request

    def test_it_answers_a_known_and_an_unknown_address_byte_for_byte_alike(self):
        unknown = self.forgotten("pierre@octopus-soignies.be")  # before Pierre's mailbox
        create_pierre()
        MemberRequest.objects.all().delete()
        known = self.forgotten("pierre@octopus-soignies.be")
        self.assertEqual(known.response.status_code, unknown.response.status_code)
        self.assertEqual(
            without_csrf_token(known.response.content), without_csrf_token(unknown.response.content)
        )
        self.assertEqual(len(known.queries), len(unknown.queries))

    def test_it_mails_the_known_address_only_once_the_enqueued_task_runs(self):
        create_pierre()
        known = self.forgotten("pierre@octopus-soignies.be")
        unknown = self.forgotten("paul@octopus-soignies.be")
        self.assertEqual(mail.outbox, [])
        unknown.run_tasks()
        self.assertEqual(mail.outbox, [])
        self.assertEqual(MemberRequest.objects.count(), 1)  # nothing kept of the unknown one
        known.run_tasks()
        [email] = mail.outbox
        self.assertEqual(email.to, [MEMBER["personal_email"]])
        self.assertIn("/demande/confirmer/", email.body)
        member_request = MemberRequest.objects.get()
        self.assertEqual(member_request.status, Status.UNCONFIRMED)
        self.assertEqual(member_request.mailbox.address, "pierre@octopus-soignies.be")

    # --- address request: taken vs free ---

    def test_it_runs_the_same_queries_for_a_taken_and_a_free_address(self):
        create_pierre(personal_email="autre@example.org")
        taken = self.asked("pierre")
        free = self.asked("paul")
        self.assertEqual(len(taken.queries), len(free.queries))
        self.assertEqual(statements(taken.queries), statements(free.queries))
        self.assertEqual(len(taken.tasks), 1)
        self.assertEqual(len(free.tasks), 1)

    def test_it_answers_a_taken_and_a_free_address_byte_for_byte_alike(self):
        free = self.asked("pierre")  # before Pierre's mailbox
        create_pierre(personal_email="autre@example.org")
        taken = self.asked("pierre")
        self.assertEqual(statements(taken.queries), statements(free.queries))
        self.assertEqual(
            without_csrf_token(taken.response.content), without_csrf_token(free.response.content)
        )

    def test_it_mails_the_link_for_a_taken_and_a_free_address_alike(self):
        create_pierre(personal_email="autre@example.org")
        for local_part in ("pierre", "paul"):
            mail.outbox.clear()
            self.asked(local_part).run_tasks()
            [email] = mail.outbox
            self.assertEqual(email.to, [ASKED["personal_email"]])
            self.assertNotIn("existe déjà", email.body)
            self.assertEqual(MemberRequest.objects.get().status, Status.UNCONFIRMED)
