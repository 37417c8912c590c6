"""Every call leaves one audit record with the token's name as actor: the use case's own
record for an act (refusals included), an `api_call` record for the rest."""

from datetime import timedelta

from django.utils import timezone

from api.models import ApiToken
from audit.models import Action, AuditRecord, Outcome

from ..base import create_pierre, deliver
from .helpers import ADDRESS, BODY, READ, WRITE, ApiTestCase

NAME = "API: import des inscriptions"
BUREAU = "bureau@octopus-soignies.be"


class CallAuditTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        ApiToken.objects.update(scopes=[READ, WRITE, "aliases:write"])
        self.job = deliver(create_pierre())

    def one_record(self, method, path, body=None, **kwargs) -> AuditRecord:
        before = AuditRecord.objects.count()
        response = self.call(method, path, body, **kwargs)
        records = AuditRecord.objects.order_by("pk")[before:]
        self.assertEqual(len(records), 1, [str(r) for r in records])
        self.assertEqual(records[0].actor_label, NAME)
        self.assertIsNone(records[0].actor)
        self.assertEqual(records[0].ip, "127.0.0.1")
        return response, records[0]

    def test_it_records_each_endpoint_once_with_the_tokens_name(self):
        job = f"/api/v1/jobs/{self.job.pk}/"
        mailbox = f"/api/v1/mailboxes/{ADDRESS}/"
        for method, path, body, action, outcome in [
            ("GET", "/api/v1/mailboxes/", None, Action.API_CALL, Outcome.SUCCESS),
            ("GET", mailbox, None, Action.API_CALL, Outcome.SUCCESS),
            ("GET", job, None, Action.API_CALL, Outcome.SUCCESS),
            ("POST", "/api/v1/mailboxes/", {**BODY, "local_part": "marie"},
             Action.MAILBOX_CREATE, Outcome.SUCCESS),
            ("POST", "/api/v1/mailboxes/", BODY, Action.MAILBOX_CREATE, Outcome.REFUSED),
            ("POST", "/api/v1/mailboxes/", {}, Action.API_CALL, Outcome.REFUSED),
            ("POST", f"{mailbox}reset-password/", None, Action.PASSWORD_RESET, Outcome.SUCCESS),
            ("POST", f"{mailbox}disable/", None, Action.MAILBOX_DISABLE, Outcome.SUCCESS),
            ("POST", f"{mailbox}disable/", None, Action.MAILBOX_DISABLE, Outcome.REFUSED),
            ("POST", f"{mailbox}enable/", None, Action.MAILBOX_ENABLE, Outcome.SUCCESS),
            ("DELETE", mailbox, None, Action.MAILBOX_DELETE, Outcome.SUCCESS),
            ("GET", "/api/v1/mailboxes/nobody@octopus-soignies.be/", None, Action.API_CALL,
             Outcome.REFUSED),
            ("PUT", mailbox, None, Action.API_CALL, Outcome.REFUSED),
            ("GET", "/api/v1/aliases/", None, Action.API_CALL, Outcome.SUCCESS),
            ("POST", "/api/v1/aliases/", {"source": BUREAU, "destinations": ["x@example.org"]},
             Action.ALIAS_CREATE, Outcome.SUCCESS),
            ("POST", "/api/v1/aliases/", {"source": BUREAU, "destinations": []},
             Action.ALIAS_CHANGE, Outcome.REFUSED),
            ("POST", "/api/v1/aliases/", {"source": BUREAU}, Action.API_CALL, Outcome.REFUSED),
            ("DELETE", f"/api/v1/aliases/{BUREAU}/", None, Action.ALIAS_DELETE, Outcome.SUCCESS),
            ("DELETE", f"/api/v1/aliases/{BUREAU}/", None, Action.API_CALL, Outcome.REFUSED),
        ]:  # fmt: skip
            with self.subTest(method=method, path=path, action=action, outcome=outcome):
                response, record = self.one_record(method, path, body)
                self.assertEqual((record.action, record.outcome), (action, outcome))
                if action == Action.API_CALL:
                    self.assertIn(f"{method} {path} → {response.status_code}", record.detail)

    def test_it_names_the_target_of_a_read(self):
        _response, record = self.one_record("GET", f"/api/v1/mailboxes/{ADDRESS}/")
        self.assertEqual(record.target, ADDRESS)
        _response, record = self.one_record("GET", f"/api/v1/jobs/{self.job.pk}/")
        self.assertEqual(record.target, f"envoi n°{self.job.pk}")

    def test_it_records_a_revoked_or_expired_token_by_its_name(self):
        token = ApiToken.objects.get()
        token.expires_at = timezone.now() - timedelta(minutes=1)
        token.save()
        response, record = self.one_record("GET", "/api/v1/mailboxes/")
        self.assertEqual(response.status_code, 401)
        self.assertEqual(record.outcome, Outcome.REFUSED)
        self.assertIn("a expiré le", record.detail)

    def test_it_records_nothing_for_an_unknown_token(self):
        before = AuditRecord.objects.count()
        with self.assertLogs("api.authentication", "WARNING"):
            self.call("GET", "/api/v1/mailboxes/", secret="om_inconnu")
        self.call("GET", "/api/v1/mailboxes/", secret="")
        self.assertEqual(AuditRecord.objects.count(), before)

    def test_it_never_writes_the_token_in_the_audit_trail(self):
        self.call("GET", "/api/v1/mailboxes/")
        self.call("POST", "/api/v1/mailboxes/", BODY)
        for record in AuditRecord.objects.all():
            self.assertNotIn(self.secret, str(record.__dict__))
