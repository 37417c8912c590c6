"""What the API tests share: tokens, a client that speaks JSON with a bearer token, and
the checks every problem answer must pass."""

import json

from accounts.models import Domain, Mailbox, Member
from api import services as api_services
from api.models import IdempotencyRecord
from audit.models import Action, AuditRecord
from audit.services import Actor
from provisioning import mailserver, services
from provisioning.models import ProvisioningJob

from ..base import MEMBER, OctopusTestCase

READ, WRITE = "mailboxes:read", "mailboxes:write"
BOTH = [READ, WRITE]
ADDRESS = "pierre@octopus-soignies.be"
OTHER_DOMAIN = "autre-asbl.be"
BODY = {
    "local_part": MEMBER["local_part"],
    "full_name": MEMBER["full_name"],
    "personal_email": MEMBER["personal_email"],
    "phone": MEMBER["phone"],
}
PROBLEM_JSON = "application/problem+json"


def make_token(name="import des inscriptions", scopes=BOTH, domains=(), days=30) -> str:
    """A token's secret, as createapitoken prints it."""
    return api_services.api_token_create(
        name=name, scopes=scopes, domains=domains, expires_in_days=days,
        actor=Actor(label="tests"),
    ).secret  # fmt: skip


def other_domain() -> Domain:
    domain, _ = Domain.objects.get_or_create(
        name=OTHER_DOMAIN, defaults={"imap_host": OTHER_DOMAIN, "smtp_host": OTHER_DOMAIN}
    )
    return domain


class ApiTestCase(OctopusTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.secret = make_token()

    def call(self, method: str, path: str, body=None, *, secret=None, raw=None, **headers):
        """`body` is sent as JSON, `raw` as is; `secret=""` sends no Authorization."""
        secret = self.secret if secret is None else secret
        if secret:
            headers.setdefault("Authorization", f"Bearer {secret}")
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        headers.setdefault("content_type", "application/json")
        content_type = headers.pop("content_type")
        if method in ("GET", "HEAD") and not data:
            content_type = ""  # the client's default, as a script's GET has no body
        return self.client.generic(method, path, data, content_type, headers=headers)

    def create(self, body=None, **kwargs):
        return self.call("POST", "/api/v1/mailboxes/", BODY if body is None else body, **kwargs)

    def assertProblem(self, response, status: int, *, code: str | None = None) -> dict:
        """An RFC 9457 problem with a French detail; its body."""
        self.assertEqual(response.status_code, status, response.content[:2000])
        self.assertEqual(response["Content-Type"], PROBLEM_JSON)
        problem = response.json()
        self.assertEqual(problem["status"], status)
        self.assertEqual(problem["type"], "about:blank")
        self.assertTrue(problem["title"] and problem["detail"])
        if code:
            self.assertEqual(problem["code"], code)
        return problem

    def counts(self) -> tuple[int, ...]:
        return (
            Member.objects.count(),
            Mailbox.objects.count(),
            ProvisioningJob.objects.count(),
            IdempotencyRecord.objects.count(),
        )

    def assertNothingWritten(self, before=(0, 0, 0, 0)) -> None:
        self.assertEqual(self.counts(), before)
        self.assertIsNone(mailserver.user_row(ADDRESS))

    def last_api_record(self) -> AuditRecord:
        return AuditRecord.objects.exclude(action=Action.API_TOKEN_CREATE).latest("pk")


def create_in(domain: Domain, local_part: str, phone: str) -> ProvisioningJob:
    """A mailbox made through the use case, as the admin makes it, in any domain."""
    fields = {**MEMBER, "local_part": local_part, "phone": phone}
    return services.mailbox_create(domain=domain, actor=Actor(label="tests"), **fields).job
