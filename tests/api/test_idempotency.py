"""`Idempotency-Key`: a retried POST returns the first answer, never a second mailbox,
job or SMS, even when the retry arrives while the first is still running."""

import threading
import time
from datetime import timedelta
from unittest import mock

from django.db import connections
from django.test import Client, TransactionTestCase
from django.utils import timezone

from accounts.models import Mailbox
from api.models import IdempotencyRecord
from audit.models import Action, AuditRecord
from provisioning import services
from provisioning.models import ProvisioningJob

from ..base import create_pierre, deliver, sms_passwords, the_domain
from .helpers import ADDRESS, BODY, ApiTestCase, make_token

KEY = "3f1c6a0e-5b7d-4d2a-9a7e-2c4b8d9e1f00"


class IdempotencyTests(ApiTestCase):
    def test_it_returns_the_first_answer_to_a_retried_post(self):
        first = self.create(**{"Idempotency-Key": KEY})
        self.assertEqual(first.status_code, 202, first.content)
        deliver(ProvisioningJob.objects.get())
        retry = self.create(**{"Idempotency-Key": KEY})
        self.assertEqual((retry.status_code, retry.json()), (202, first.json()))
        self.assertEqual(retry["Location"], first["Location"])
        self.assertEqual(retry["Idempotent-Replayed"], "true")
        self.assertEqual(self.counts(), (1, 1, 1, 1))
        self.assertEqual(len(sms_passwords()), 1)

    def test_it_refuses_the_same_key_for_another_request(self):
        self.create(**{"Idempotency-Key": KEY})
        other = self.create({**BODY, "local_part": "marie"}, **{"Idempotency-Key": KEY})
        problem = self.assertProblem(other, 422, code="idempotency_key_reused")
        self.assertIn("nouvelle clé", problem["detail"])
        elsewhere = self.call("POST", f"/api/v1/mailboxes/{ADDRESS}/disable/",
                              **{"Idempotency-Key": KEY})  # fmt: skip
        self.assertProblem(elsewhere, 422)
        self.assertEqual(self.counts(), (1, 1, 1, 1))
        self.assertEqual(Mailbox.objects.get().status, "pending")

    def test_it_keeps_no_refusal_so_the_key_may_be_tried_again(self):
        refused = self.create({**BODY, "phone": "0470"}, **{"Idempotency-Key": KEY})
        self.assertProblem(refused, 400)
        self.assertNothingWritten()
        accepted = self.create(**{"Idempotency-Key": KEY})
        self.assertEqual(accepted.status_code, 202, accepted.content)
        self.assertNotIn("Idempotent-Replayed", accepted)

    def test_it_replays_a_reset_without_a_second_sms(self):
        deliver(create_pierre())
        path = f"/api/v1/mailboxes/{ADDRESS}/reset-password/"
        first = self.call("POST", path, **{"Idempotency-Key": KEY})
        deliver(ProvisioningJob.objects.get(kind="reset"))  # done: a new reset would be new
        retry = self.call("POST", path, **{"Idempotency-Key": KEY})
        self.assertEqual(retry.json(), first.json())
        self.assertEqual(ProvisioningJob.objects.filter(kind="reset").count(), 1)
        self.assertEqual(len(sms_passwords()), 2)  # the creation's and the reset's

    def test_it_keeps_answers_apart_per_token(self):
        self.create(**{"Idempotency-Key": KEY})
        other = self.create({**BODY, "local_part": "marie"}, secret=make_token("autre"),
                            **{"Idempotency-Key": KEY})  # fmt: skip
        self.assertEqual(other.status_code, 202, other.content)
        self.assertEqual(Mailbox.objects.count(), 2)

    def test_it_forgets_an_answer_after_a_day(self):
        self.create(**{"Idempotency-Key": KEY})
        IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
        again = self.create({**BODY, "local_part": "marie"}, **{"Idempotency-Key": KEY})
        self.assertEqual(again.status_code, 202, again.content)
        self.assertEqual(IdempotencyRecord.objects.count(), 1)

    def test_it_refuses_a_malformed_key(self):
        for key in ["", "x" * 256, "clé"]:
            with self.subTest(key=key):
                problem = self.assertProblem(self.create(**{"Idempotency-Key": key}), 400)
                self.assertIn("Idempotency-Key", problem["errors"])
        self.assertNothingWritten()

    def test_it_records_the_replay_in_the_audit_trail(self):
        self.create(**{"Idempotency-Key": KEY})
        self.create(**{"Idempotency-Key": KEY})
        record = AuditRecord.objects.latest("pk")
        self.assertEqual((record.action, record.actor_label),
                         (Action.API_CALL, "API: import des inscriptions"))  # fmt: skip
        self.assertIn("réponse rejouée", record.detail)
        self.assertEqual(AuditRecord.objects.filter(action=Action.MAILBOX_CREATE).count(), 1)


class ConcurrentRetryTests(TransactionTestCase):
    """Two requests with one key at once: the second waits for the first, then replays it."""

    databases = {"default", "mailserver"}

    def test_it_creates_one_mailbox_when_a_retry_races_the_first_request(self):
        the_domain()
        secret = make_token()
        slow = services.mailbox_create

        def slowly(**kwargs):
            time.sleep(0.5)  # the retry arrives while this transaction is open
            return slow(**kwargs)

        answers = []

        def post():
            try:
                response = Client().post(
                    "/api/v1/mailboxes/", BODY, content_type="application/json",
                    headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": KEY},
                )  # fmt: skip
                answers.append((response.status_code, response.json()))
            finally:
                connections.close_all()

        with mock.patch.object(services, "mailbox_create", slowly):
            first = threading.Thread(target=post)
            first.start()
            time.sleep(0.2)
            post()
            first.join(timeout=30)
        self.assertEqual([status for status, _body in answers], [202, 202])
        self.assertEqual(answers[0][1], answers[1][1])
        self.assertEqual((Mailbox.objects.count(), ProvisioningJob.objects.count()), (1, 1))
