"""A token never reaches another scope or another domain, endpoint by endpoint: a missing
scope is a 403, a mailbox or job of another domain is a 404 as if it did not exist."""

from accounts.models import Domain, Mailbox
from provisioning.models import ProvisioningJob

from ..base import create_pierre, deliver
from .helpers import BODY, READ, WRITE, ApiTestCase, create_in, make_token, other_domain

# (method, path, scope): {address} and {job} are filled in by each test.
ENDPOINTS = [
    ("GET", "/api/v1/mailboxes/", READ),
    ("POST", "/api/v1/mailboxes/", WRITE),
    ("GET", "/api/v1/mailboxes/{address}/", READ),
    ("DELETE", "/api/v1/mailboxes/{address}/", WRITE),
    ("POST", "/api/v1/mailboxes/{address}/reset-password/", WRITE),
    ("POST", "/api/v1/mailboxes/{address}/disable/", WRITE),
    ("POST", "/api/v1/mailboxes/{address}/enable/", WRITE),
    ("GET", "/api/v1/jobs/{job}/", READ),
]


def state() -> tuple:
    """What an endpoint could change: statuses, jobs."""
    return (
        sorted(Mailbox.objects.values_list("local_part", "status")),
        ProvisioningJob.objects.count(),
    )


class ScopeIsolationTests(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.job = deliver(create_pierre())
        self.paths = {"address": self.job.mailbox.address, "job": self.job.pk}

    def test_it_refuses_each_endpoint_to_a_token_without_its_scope(self):
        tokens = {
            READ: make_token("écriture seule", scopes=[WRITE]),
            WRITE: make_token("lecture seule", scopes=[READ]),
        }
        aliases_only = make_token("alias seulement", scopes=["aliases:write"])
        before = state()
        for method, path, scope in ENDPOINTS:
            for secret in (tokens[scope], aliases_only):
                with self.subTest(method=method, path=path, secret=secret[:6]):
                    response = self.call(method, path.format(**self.paths), BODY, secret=secret)
                    problem = self.assertProblem(response, 403, code="permission_denied")
                    self.assertIn(f"« {scope} »", problem["detail"])
        self.assertEqual(state(), before)

    def test_it_lets_each_endpoint_through_with_its_scope(self):
        tokens = {READ: make_token("lecture", scopes=[READ]),
                  WRITE: make_token("écriture", scopes=[WRITE])}  # fmt: skip
        for method, path, scope in ENDPOINTS:
            with self.subTest(method=method, path=path):
                response = self.call(method, path.format(**self.paths), {**BODY, "local_part":
                                     "marie"}, secret=tokens[scope])  # fmt: skip
                self.assertNotIn(response.status_code, (401, 403, 404), response.content)

    def test_it_answers_head_only_with_the_read_scope(self):
        response = self.call("HEAD", "/api/v1/mailboxes/", secret=make_token("w", scopes=[WRITE]))
        self.assertEqual(response.status_code, 403)


class DomainIsolationTests(ApiTestCase):
    """The token sees octopus-soignies.be only; marie@autre-asbl.be exists too."""

    def setUp(self) -> None:
        super().setUp()
        self.elsewhere = other_domain()
        self.job = deliver(create_in(self.elsewhere, "marie", "+32470999999"))
        self.secret = make_token("limité", domains=[self.domain])
        self.paths = {"address": self.job.mailbox.address, "job": self.job.pk}

    def test_it_answers_404_for_every_object_of_another_domain(self):
        before = state()
        for method, path, _scope in ENDPOINTS:
            if "{" not in path:
                continue
            with self.subTest(method=method, path=path):
                response = self.call(method, path.format(**self.paths))
                problem = self.assertProblem(response, 404, code="not_found")
                # Word for word the answer for an address that does not exist.
                unknown = self.call(method, path.format(address="nobody@autre-asbl.be",
                                                        job=999999)).json()  # fmt: skip
                self.assertEqual(problem["detail"].replace("marie", "nobody").replace(
                    str(self.job.pk), "999999"), unknown["detail"])  # fmt: skip
        self.assertEqual(state(), before)

    def test_it_leaves_other_domains_out_of_the_list(self):
        create_pierre()
        page = self.call("GET", "/api/v1/mailboxes/").json()
        self.assertEqual([m["address"] for m in page["results"]], ["pierre@octopus-soignies.be"])
        page = self.call("GET", "/api/v1/mailboxes/?domain=autre-asbl.be").json()
        self.assertEqual(page["count"], 0)

    def test_it_refuses_to_create_in_another_domain_as_in_an_unknown_one(self):
        before = state()
        other = self.create({**BODY, "domain": "autre-asbl.be"})
        unknown = self.create({**BODY, "domain": "inconnu.be"})
        for response, name in ((other, "autre-asbl.be"), (unknown, "inconnu.be")):
            problem = self.assertProblem(response, 400, code="invalid")
            self.assertEqual(problem["errors"]["domain"], [
                f"Le domaine « {name} » n'est pas accessible à ce jeton (octopus-soignies.be)."
            ])  # fmt: skip
        self.assertEqual(state(), before)

    def test_it_reaches_the_domains_it_names(self):
        secret = make_token("autre asbl", domains=[self.elsewhere])
        response = self.call("GET", f"/api/v1/mailboxes/{self.paths['address']}/", secret=secret)
        self.assertEqual(response.status_code, 200, response.content)
        created = self.create({**BODY, "domain": "autre-asbl.be"}, secret=secret)
        self.assertEqual(created.status_code, 202, created.content)
        self.assertEqual(Domain.objects.get(mailboxes__local_part="pierre").name, "autre-asbl.be")


class DeletedDomainTests(ApiTestCase):
    def test_it_reaches_nothing_once_its_only_domain_is_deleted(self):
        create_pierre()
        secret = make_token("autre asbl", domains=[other_domain()])
        Domain.objects.get(name="autre-asbl.be").delete()  # no mailbox holds it
        page = self.call("GET", "/api/v1/mailboxes/", secret=secret).json()
        self.assertEqual(page["count"], 0)
        response = self.create(secret=secret)
        problem = self.assertProblem(response, 400)
        self.assertIn("n'est pas accessible à ce jeton (aucun)", problem["errors"]["domain"][0])
